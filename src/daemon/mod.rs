//! Master process: listeners, workers, signals (filled in by the daemon work).

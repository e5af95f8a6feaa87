//! The four events that flow through pipelines.

use super::data::Data;
use super::head::Head;

/// Why a stream ended. `None` is a clean end. Names are those scripts see in `StreamEnd.error`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamError {
    None,
    UnknownError,
    RuntimeError,
    ReadError,
    WriteError,
    CannotResolve,
    ConnectionCanceled,
    ConnectionReset,
    ConnectionRefused,
    ConnectionTimeout,
    ReadTimeout,
    WriteTimeout,
    IdleTimeout,
    Unauthorized,
    BufferOverflow,
}

impl StreamError {
    const ALL: [StreamError; 15] = [
        StreamError::None,
        StreamError::UnknownError,
        StreamError::RuntimeError,
        StreamError::ReadError,
        StreamError::WriteError,
        StreamError::CannotResolve,
        StreamError::ConnectionCanceled,
        StreamError::ConnectionReset,
        StreamError::ConnectionRefused,
        StreamError::ConnectionTimeout,
        StreamError::ReadTimeout,
        StreamError::WriteTimeout,
        StreamError::IdleTimeout,
        StreamError::Unauthorized,
        StreamError::BufferOverflow,
    ];

    pub fn name(self) -> &'static str {
        match self {
            StreamError::None => "",
            StreamError::UnknownError => "UnknownError",
            StreamError::RuntimeError => "RuntimeError",
            StreamError::ReadError => "ReadError",
            StreamError::WriteError => "WriteError",
            StreamError::CannotResolve => "CannotResolve",
            StreamError::ConnectionCanceled => "ConnectionCanceled",
            StreamError::ConnectionReset => "ConnectionReset",
            StreamError::ConnectionRefused => "ConnectionRefused",
            StreamError::ConnectionTimeout => "ConnectionTimeout",
            StreamError::ReadTimeout => "ReadTimeout",
            StreamError::WriteTimeout => "WriteTimeout",
            StreamError::IdleTimeout => "IdleTimeout",
            StreamError::Unauthorized => "Unauthorized",
            StreamError::BufferOverflow => "BufferOverflow",
        }
    }

    pub fn from_name(name: &str) -> Option<StreamError> {
        Self::ALL.iter().copied().find(|e| e.name() == name)
    }

    /// Status and reason a synthesized failure response carries (reference §3.8; a script
    /// error is ours, not the upstream's: 500).
    pub fn gateway_status(self) -> (u16, &'static str) {
        match self {
            StreamError::RuntimeError => (500, "Internal Server Error"),
            StreamError::CannotResolve => (502, "Cannot Resolve"),
            StreamError::ConnectionRefused => (502, "Connection Refused"),
            StreamError::ReadError => (502, "Read Error"),
            StreamError::WriteError => (502, "Write Error"),
            StreamError::ConnectionTimeout
            | StreamError::ReadTimeout
            | StreamError::WriteTimeout => (504, "Gateway Timeout"),
            StreamError::Unauthorized => (401, "Unauthorized"),
            _ => (502, "Bad Gateway"),
        }
    }
}

/// One unit of a stream. A well-formed stream is `(MessageStart Data* MessageEnd | Data)* StreamEnd?`.
#[derive(Clone, Debug)]
pub enum Event {
    Data(Data),
    MessageStart(Head),
    MessageEnd,
    StreamEnd(StreamError),
}

impl Event {
    pub fn flush() -> Event {
        Event::Data(Data::new())
    }
}

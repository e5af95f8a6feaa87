// bench "proxy", "large", "latency": a plain reverse proxy in the shape of Pipy's tutorial 03:
// every request goes through one pipelined upstream session (muxHTTP with a constant key), so
// the origin reads requests of many clients in one call and no callback runs per request.
// Four sessions keyed by `__inbound.id % 4` were measured against it (bench/ANALYSIS.md,
// nineteenth session): one session spared the origin 1–12% of its CPU per request and was
// ahead on proxy in 5 of 6 rounds; four were 2–10% ahead on large, where one connection carries
// every 1 MiB response in turn.
pipy()

.listen('127.0.0.1:' + os.env.PORT)
.demuxHTTP('forward')

.pipeline('forward')
.muxHTTP('connection', '')

.pipeline('connection')
.connect('127.0.0.1:' + os.env.BACKEND_PORT)

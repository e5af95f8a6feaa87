// bench "proxy", "large", "latency": a plain reverse proxy in the shape of Pipy's tutorial 03:
// every request goes through one pipelined upstream session (muxHTTP with a constant key), so
// the origin reads requests of many clients in one call and no callback runs per request.
// Four sessions keyed by `__inbound.id % 4` (this script until the nineteenth session) could
// not be told apart from it in req/s on proxy or large; one session costs pipy's worker less
// per request (bench/ANALYSIS.md, nineteenth session).
pipy()

.listen('127.0.0.1:' + os.env.PORT)
.demuxHTTP('forward')

.pipeline('forward')
.muxHTTP('connection', '')

.pipeline('connection')
.connect('127.0.0.1:' + os.env.BACKEND_PORT)

// bench "proxy", "large", "latency": a plain reverse proxy (tutorial 03 shape) with a small pool
// of pipelined upstream sessions: client connections are spread over 4 muxHTTP sessions by id,
// so requests of several clients share one upstream connection and the origin reads and writes
// them in batches, while large bodies still flow over several connections in parallel.
// (One shared session measured 0.72x nginx on 'large' in the first sessions; since the receive
// low-water marks it is level with four on both 'proxy' and 'large' within this host's noise,
// bench/ANALYSIS.md, twelfth session. One session per client gives up the batching.)
pipy()

.listen('127.0.0.1:' + os.env.PORT)
.demuxHTTP('forward')

.pipeline('forward')
.muxHTTP('connection', () => __inbound.id % 4)

.pipeline('connection')
.connect('127.0.0.1:' + os.env.BACKEND_PORT)

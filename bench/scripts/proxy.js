// bench "proxy", "large", "latency": a plain reverse proxy in the shape of Pipy's tutorial 03.
// muxHTTP with a constant key: every request of the worker shares one upstream session, so
// requests from all clients are pipelined onto it and the origin reads and writes them in
// batches (nginx and HAProxy send one request per upstream connection at a time).
pipy()

.listen('127.0.0.1:' + os.env.PORT)
.demuxHTTP('forward')

.pipeline('forward')
.muxHTTP('connection', '')

.pipeline('connection')
.connect('127.0.0.1:' + os.env.BACKEND_PORT)

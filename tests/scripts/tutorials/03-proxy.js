// Tutorial 03 shape: every request of every client goes through one shared upstream session
// (muxHTTP key '') to the service named by UPSTREAM (a port on localhost).
pipy()

.listen(+os.env.PORT)
  .demuxHTTP('forward')

.pipeline('forward')
  .muxHTTP('connection', '')

.pipeline('connection')
  .connect('localhost:' + os.env.UPSTREAM)

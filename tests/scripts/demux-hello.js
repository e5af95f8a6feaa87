// demuxHTTP with a sub-pipeline replacing each request by a static message.
pipy()

.listen(+os.env.PORT)
.demuxHTTP('req')

.pipeline('req')
.replaceMessage(
  new Message('Hi, there!\n')
)

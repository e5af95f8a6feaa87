// Connection-level callbacks logging through console.log.
pipy()

.listen(+os.env.PORT)
.handleStreamStart(
  () => console.log(`conn-start ${__inbound.remoteAddress}`)
)
.handleStreamEnd(
  evt => console.log(`conn-end error=[${evt.error}]`)
)
.demuxHTTP('req')

.pipeline('req')
.dump('DUMP-TAG')
.print()
.replaceMessage(
  new Message('ok')
)

// Observing filters record what they see in a per-request trace that becomes the reply.
pipy({
  _trace: '',
  _limited: -1,
})

.listen(+os.env.PORT)
.demuxHTTP('req')

.pipeline('req')
.handleStreamStart(
  evt => _trace += `stream-start:${evt instanceof MessageStart};`
)
.handleMessageStart(
  msg => _trace += `message-start:${msg.head.method} ${msg.head.path};`
)
.handleData(
  data => _trace += `data:${data.size};`
)
.handleMessageBody(
  body => _trace += `body:${body.toString()};`
)
.handleMessageEnd(
  () => _trace += 'message-end;'
)
.handleMessage(
  msg => _trace += `message:${msg.head.path}:${msg.body.toString()};`
)
.handleMessage(
  '1k', msg => _limited = msg.body.size
)
.replaceMessage(
  () => new Message(`${_trace}limited:${_limited}`)
)

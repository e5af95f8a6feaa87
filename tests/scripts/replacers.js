// replaceMessageStart / replaceMessageBody / replaceMessageEnd / replaceData rewrite the request
// before handleMessage sees it.
pipy({
  _seen: '',
})

.listen(+os.env.PORT)
.demuxHTTP('req')

.pipeline('req')
.replaceMessageStart(
  evt => new MessageStart({ ...evt.head, path: `/rewritten${evt.head.path}` })
)
.replaceData(
  data => new Data(data.toString().split('a').join('b'))
)
.replaceMessageBody(
  body => new Data(body.toString().toUpperCase())
)
.replaceMessageEnd(
  () => new MessageEnd()
)
.handleMessage(
  msg => _seen = `${msg.head.method} ${msg.head.path} ${msg.body.toString()}`
)
.replaceMessage(
  () => new Message(_seen)
)

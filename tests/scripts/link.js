// link picks a sub-pipeline by condition; '' passes the request through; the sub-pipelines
// share the request's context (_picked is read back after the link).
pipy({
  _path: '',
  _picked: 'none',
})

.listen(+os.env.PORT)
.demuxHTTP('req')

.pipeline('req')
.handleMessageStart(
  msg => _path = msg.head.path
)
.link(
  'a', () => _path === '/a',
  'b', () => _path.startsWith('/b/'),
  '', () => _path === '/bypass',
  'other'
)
.replaceMessage(
  msg => msg.head?.status ? (
    new Message({ status: msg.head.status }, `${msg.body.toString()} picked=${_picked}`)
  ) : (
    new Message({ status: 200 }, `bypassed ${msg.head.method} ${msg.head.path} picked=${_picked}`)
  )
)

.pipeline('a')
.replaceMessage(
  () => (_picked = 'a', new Message({ status: 200 }, 'from a'))
)

.pipeline('b')
.replaceMessage(
  msg => (_picked = 'b', new Message({ status: 202 }, `from b ${msg.head.path}`))
)

.pipeline('other')
.replaceMessage(
  () => (_picked = 'other', new Message({ status: 404 }, 'other'))
)

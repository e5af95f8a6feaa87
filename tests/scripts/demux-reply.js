// demuxHTTP with a callback reply; _n shows that each request gets a context cloned from the
// connection's (it is always 1).
pipy({
  _n: 0,
})

.listen(+os.env.PORT)
.demuxHTTP('req')

.pipeline('req')
.replaceMessage(
  msg => new Message(
    { status: 201, headers: { 'x-a': 'b' } },
    `${++_n} ${msg.head.method} ${msg.head.path} ${msg.body?.toString() ?? ''}`
  )
)

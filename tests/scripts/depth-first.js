// One read carrying several pipelined requests: decodeHTTPRequest outputs all their messages
// in one batch. Each message must pass every later filter before the next one moves, so the
// reply built for a message sees the count as of that message, not of the whole batch.
pipy({
  _n: 0,
})

.listen(+os.env.PORT)
.decodeHTTPRequest()
.handleMessageStart(() => _n++)
.replaceMessage(msg => new Message({ status: 200 }, `${_n} ${msg.head.path}\n`))
.encodeHTTPResponse()

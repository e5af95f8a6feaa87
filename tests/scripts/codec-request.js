// decodeHTTPRequest + encodeHTTPRequest: each incoming request comes back as a rewritten request.
pipy()

.listen(+os.env.PORT)
.decodeHTTPRequest()
.replaceMessage(
  msg => new Message(
    { method: 'POST', path: `/x${msg.head.path}`, headers: { 'x-h': '1' } },
    `req-body ${msg.body?.toString() ?? ''}`
  )
)
.encodeHTTPRequest()

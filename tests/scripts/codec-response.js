// decodeHTTPResponse + encodeHTTPResponse: each incoming response is summarised in a new response.
pipy()

.listen(+os.env.PORT)
.decodeHTTPResponse()
.replaceMessage(
  msg => new Message(`${msg.head.status} ${msg.head.statusText} ${msg.body?.toString() ?? ''}`)
)
.encodeHTTPResponse()

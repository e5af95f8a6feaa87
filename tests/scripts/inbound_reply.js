// A serveHTTP reply read from the client connection (natively evaluated): every connection
// must see its own.
pipy()

.listen(os.env.PORT)
.serveHTTP(
  msg => new Message(`${__inbound.remoteAddress}:${__inbound.remotePort} ${msg.head.path}`)
)

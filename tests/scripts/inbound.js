// Reports what the script sees of the downstream connection.
pipy()

.listen(+os.env.PORT)
.serveHTTP(
  () => new Message(
    `${__inbound.remoteAddress} ${__inbound.remotePort} ${__inbound.localAddress} ${__inbound.localPort}`
  )
)

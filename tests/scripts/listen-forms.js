// listen() with "ip:port" and "[ipv6]:port" strings.
pipy()

.listen(`127.0.0.1:${os.env.PORT}`)
.serveHTTP(
  () => new Message(`v4 ${__inbound.remoteAddress} ${__inbound.localAddress} ${__inbound.localPort}`)
)

.listen(`[::1]:${os.env.PORT_V6}`)
.serveHTTP(
  () => new Message(`v6 ${__inbound.remoteAddress} ${__inbound.localAddress} ${__inbound.localPort}`)
)

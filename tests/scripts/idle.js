// Connections idle for more than one second are closed.
pipy()

.listen(+os.env.PORT, { idleTimeout: 1 })
.serveHTTP(
  new Message('Hi, there!\n')
)

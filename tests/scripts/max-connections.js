// At most one connection is served at a time.
pipy()

.listen(+os.env.PORT, { maxConnections: 1 })
.serveHTTP(
  new Message('Hi, there!\n')
)

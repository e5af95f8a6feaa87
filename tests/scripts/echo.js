// Echoes the request body.
pipy()

.listen(+os.env.PORT)
.serveHTTP(
  msg => new Message(msg.body)
)

// Echoes the request body, holding at most 1 KiB of it (larger bodies get 413).
pipy()

.listen(+os.env.PORT)
.serveHTTP(
  msg => new Message(msg.body),
  { maxBodySize: '1k' }
)

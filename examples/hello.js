// Hello world: answers every HTTP request with "Hi, there!".
// Listens on port 8080, or on $PORT when that is set (the tests use it).
pipy()

.listen(+(os.env.PORT || 8080))
.serveHTTP(
  new Message('Hi, there!\n')
)

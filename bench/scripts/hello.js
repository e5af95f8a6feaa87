// bench "hello": a static response, no JS per request.
pipy()

.listen('127.0.0.1:' + os.env.PORT)
.serveHTTP(
  new Message('Hi, there!\n')
)

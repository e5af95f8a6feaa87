// Static reply: the fast path that must run no JS per request.
pipy()

.listen(+os.env.PORT)
.serveHTTP(
  new Message('Hi, there!\n')
)

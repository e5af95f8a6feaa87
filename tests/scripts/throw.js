// A callback that throws on /throw (line 7) and answers normally otherwise.
pipy()

.listen(+os.env.PORT)
.serveHTTP(
  msg => msg.head.path === '/throw' ? (
    (() => { throw new Error('boom from serveHTTP') })()
  ) : new Message('still serving')
)

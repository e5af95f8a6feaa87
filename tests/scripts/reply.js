// Replies built by a callback: status, headers and body chosen by the request path.
((
  routes = {
    '/created': () => new Message({ status: 201, headers: { 'x-a': 'b' } }, 'body'),
    '/not-found': () => new Message({ status: 404 }, 'No route'),
    '/upper': () => new Message({ headers: { 'X-Upper-Case': 'v' } }, 'u'),
    '/no-content': () => new Message({ status: 204 }),
  },
) => pipy()

.listen(+os.env.PORT)
.serveHTTP(
  msg => (
    msg.head.path.startsWith('/size/') ? (
      new Message('x'.repeat(+msg.head.path.substring(6)))
    ) : (
      routes[msg.head.path]?.() ?? new Message(`${msg.head.method} ${msg.head.path}`)
    )
  )
)

)()

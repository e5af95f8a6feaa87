// bench "route": JS on every request; routes with algo.URLRouter and builds the reply from msg.head.
var router = new algo.URLRouter({
  '/hello': 'hello',
  '/api/*': 'api',
  '/static/*': 'static',
  '/*': 'default',
})

pipy()

.listen('127.0.0.1:' + os.env.PORT)
.serveHTTP(
  msg => new Message(
    { status: 200, headers: { 'content-type': 'text/plain' } },
    router.find(msg.head.headers.host, msg.head.path) + ': ' + msg.head.method + ' ' + msg.head.path + '\n'
  )
)

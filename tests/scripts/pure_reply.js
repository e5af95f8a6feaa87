// A serveHTTP callback within the natively evaluated subset (PORT), and one that is not (PORT2)
// whose requests change the globals the first one reads.
var router = new algo.URLRouter({ '/hello': 'hello', '/api/*': 'api', '*.example.com/*': 'sub', '/*': 'default' })
var greeting = 'hi'

pipy()

.listen(os.env.PORT)
.serveHTTP(
  msg => new Message(
    { status: 200, headers: { 'content-type': 'text/plain' } },
    greeting + ' ' + router.find(msg.head.headers.host, msg.head.path) + ': ' + msg.head.method + ' ' + msg.head.path + ' ' + msg.head.headers.host + '\n'
  )
)

.listen(os.env.PORT2)
.serveHTTP(
  msg => {
    var path = msg.head.path
    if (path === '/greeting') greeting = 'hello'
    if (path === '/object') greeting = { toString() { return 'an object' } }
    if (path === '/proto-find') algo.URLRouter.prototype.find = () => 'proto find'
    if (path === '/own-find') router.find = () => 'own find'
    if (path === '/router') router = { find: () => 'not a router' }
    if (path === '/prototype') Object.prototype.host = 'inherited'
    return new Message('changed ' + path)
  }
)

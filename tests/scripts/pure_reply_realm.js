// A serveHTTP callback answered natively (PORT), and an engine-run one (PORT2) that changes,
// then restores, what the native form checks once per script epoch: the global Message, its
// head getter, and the head fields a reply would inherit from Object.prototype.
var OriginalMessage = Message
var headGetter = Object.getOwnPropertyDescriptor(Message.prototype, 'head')

pipy()

.listen(os.env.PORT)
.serveHTTP(
  msg => new Message(
    { status: 200, headers: { 'content-type': 'text/plain' } },
    msg.head.method + ' ' + msg.head.path + '\n'
  )
)

.listen(os.env.PORT2)
.serveHTTP(
  msg => {
    var path = msg.head.path
    if (path === '/message') {
      Message = function (head, body) { return new OriginalMessage(head, 'wrapped ' + body) }
    }
    if (path === '/head') {
      Object.defineProperty(OriginalMessage.prototype, 'head', {
        get() {
          var head = headGetter.get.call(this)
          return { method: 'GOT', path: head.path, headers: head.headers }
        },
        configurable: true,
      })
    }
    if (path === '/status-text') Object.prototype.statusText = 'Inherited'
    if (path === '/restore') {
      Message = OriginalMessage
      Object.defineProperty(OriginalMessage.prototype, 'head', headGetter)
      delete Object.prototype.statusText
    }
    return new OriginalMessage('changed ' + path)
  }
)

// Prices single script operations inside a serveHTTP callback, the way bench/ANALYSIS.md
// quotes them: GET /<operation> runs it N times in a loop and answers with the time per run
// in ns (the loop itself is /empty; subtract it). Not part of `make bench`:
//
//   PIPY_SPAWN=0 PORT=18250 taskset -c 0 target/release/pipy --log-level=warn bench/probes/js-costs.js &
//   for op in empty global prop ctx ctxset inbound call literal literal2 message reply \
//             concat find index cacheget head path host; do
//     curl -s 127.0.0.1:18250/$op; curl -s 127.0.0.1:18250/$op
//   done
//
// The first request of each operation warms it up; take the second. Allocating operations
// include their share of boa's garbage collections, as they do per request.
var global = 1
var object = { a: 1 }
var router = new algo.URLRouter({ '/hello': 'hello', '/api/*': 'api', '/static/*': 'static', '/*': 'default' })
var services = { 'service-hi': new algo.RoundRobinLoadBalancer(['127.0.0.1:1', '127.0.0.1:2']) }
var cache = new algo.Cache(b => b.select(), (b, t) => b.deselect(t))
var N = 100000

var ops = {
  empty: () => { var x; for (var i = 0; i < N; i++) x = i },
  global: () => { var s = 0; for (var i = 0; i < N; i++) s += global },
  prop: () => { var s = 0; for (var i = 0; i < N; i++) s += object.a },
  ctx: () => { var s = 0; for (var i = 0; i < N; i++) s += _x },
  ctxset: () => { for (var i = 0; i < N; i++) _x = i },
  inbound: () => { var s = 0; for (var i = 0; i < N; i++) s += __inbound.id },
  call: () => { var f = () => 1, s = 0; for (var i = 0; i < N; i++) s += f() },
  literal: () => { var x; for (var i = 0; i < N; i++) x = { status: 200 } },
  literal2: () => { var x; for (var i = 0; i < N; i++) x = { status: 200, headers: { 'content-type': 'text/plain' } } },
  message: () => { var h = { status: 200 }, x; for (var i = 0; i < N; i++) x = new Message(h, 'abc') },
  reply: () => { var x; for (var i = 0; i < N; i++) x = new Message({ status: 200, headers: { 'content-type': 'text/plain' } }, 'abc') },
  concat: () => { var a = 'api', m = 'GET', p = '/api/users/42', x; for (var i = 0; i < N; i++) x = a + ': ' + m + ' ' + p + '\n' },
  find: () => { var h = '127.0.0.1:18250', p = '/api/users/42', x; for (var i = 0; i < N; i++) x = router.find(h, p) },
  index: () => { var id = 'service-hi', x; for (var i = 0; i < N; i++) x = services[id] },
  cacheget: () => { var b = services['service-hi'], x; for (var i = 0; i < N; i++) x = cache.get(b) },
}

// Operations on the request itself (its head object exists after the first read).
var onRequest = {
  head: msg => { var x; for (var i = 0; i < N; i++) x = msg.head },
  path: msg => { var h = msg.head, x; for (var i = 0; i < N; i++) x = h.path },
  host: msg => { var h = msg.head, x; for (var i = 0; i < N; i++) x = h.headers.host },
}

pipy({ _x: 1 })

.listen(+(os.env.PORT || 18250))
.serveHTTP(
  msg => {
    var name = msg.head.path.substring(1)
    var op = ops[name]
    var req = onRequest[name]
    if (!op && !req) return new Message({ status: 404 }, 'operations: ' + Object.keys(ops).concat(Object.keys(onRequest)).join(' ') + '\n')
    var t0 = Date.now()
    op ? op() : req(msg)
    return new Message(name + ' ' + ((Date.now() - t0) * 1e6 / N).toFixed(0) + ' ns\n')
  }
)

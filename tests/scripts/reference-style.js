// The style of Pipy's reference scripts: IIFE around pipy(), a JSON config read with pipy.load,
// Object.entries/fromEntries, destructuring, spread, optional chaining and template strings.
((
  config = JSON.decode(pipy.load('reference-style.json')),
  routes = Object.fromEntries(
    Object.entries(config.routes).map(
      ([path, reply]) => [path, { ...reply, path }]
    )
  ),
) => pipy({
  _route: null,
})

.listen(+os.env.PORT)
.demuxHTTP('req')

.pipeline('req')
.handleMessageStart(
  msg => _route = routes[msg.head.path]
)
.replaceMessage(
  msg => new Message(
    { status: _route ? 200 : 404, headers: { 'content-type': 'text/plain' } },
    `${_route?.text ?? 'no route'} for ${msg.head.headers?.['x-name'] ?? 'nobody'} at ${_route?.path}`
  )
)

)()

// Finds the route of a request: its service name (exported as __serviceID) and an optional path
// rewrite [pattern, replacement] applied before the request is forwarded.
(config =>

pipy({
  _router: new algo.URLRouter(
    Object.fromEntries(
      Object.entries(config.routes).map(
        ([pattern, route]) => [
          pattern,
          {
            ...route,
            rewrite: route.rewrite && [new RegExp(route.rewrite[0]), route.rewrite[1]],
          }
        ]
      )
    )
  ),

  _route: null,
})

.export('router', {
  __serviceID: '',
})

.pipeline('request')
  .handleMessageStart(
    msg => (
      _route = _router.find(msg.head.headers.host, msg.head.path),
      _route && (
        __serviceID = _route.service,
        _route.rewrite && (
          msg.head.path = msg.head.path.replace(_route.rewrite[0], _route.rewrite[1])
        )
      )
    )
  )

)(JSON.decode(pipy.load('config/router.json')))

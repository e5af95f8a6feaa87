// Round robin per client connection: the first request of a connection picks a target for each
// service and keeps it (algo.Cache per connection). Upstream connections come from a pool of ids:
// each (client connection, target) holds one id while the client is connected, and muxHTTP keeps
// one upstream session per id, so a later client reuses the freed id and its upstream connection.
(config =>

pipy({
  _services: Object.fromEntries(
    Object.entries(config.services).map(
      ([name, targets]) => [name, new algo.RoundRobinLoadBalancer(targets)]
    )
  ),

  _pool: { lastID: 0 },
  _connectionIDs: new algo.ResourcePool(() => ++_pool.lastID),

  _picked: null,
  _connectionOf: null,
  _target: '',
})

.import({
  __turnDown: 'proxy',
  __serviceID: 'router',
})

.pipeline('session')
  .handleStreamStart(
    () => (
      _picked = new algo.Cache(
        balancer => balancer.select(),
        (balancer, target) => balancer.deselect(target),
      ),
      _connectionOf = new algo.Cache(
        target => _connectionIDs.allocate(target),
        (target, id) => _connectionIDs.free(id),
      )
    )
  )
  .handleStreamEnd(
    () => (
      _connectionOf.clear(),
      _picked.clear()
    )
  )

.pipeline('request')
  .handleMessageStart(
    () => (
      _target = _services[__serviceID] ? _picked.get(_services[__serviceID]) : '',
      _target && (__turnDown = true)
    )
  )
  .link(
    'forward', () => Boolean(_target),
    ''
  )

.pipeline('forward')
  .muxHTTP(
    'upstream',
    () => _connectionOf.get(_target)
  )

.pipeline('upstream')
  .connect(
    () => _target
  )

)(JSON.parse(pipy.load('config/balancer.json').toString().replace(
  new RegExp('\\$\\{(\\w+)\\}', 'g'), (_, name) => os.env[name]
)))

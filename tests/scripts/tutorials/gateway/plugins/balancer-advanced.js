// Tutorial 19 shape: the algorithm is configurable per service (any algo.*LoadBalancer), and a
// service marked sticky sends every request carrying the same Authorization value to the same
// target, across connections. Otherwise targets are picked per client connection and released
// (deselect) when it closes.
(config =>

pipy({
  _services: Object.fromEntries(
    Object.entries(config.services).map(
      ([name, service]) => (
        (balancer => [
          name,
          {
            balancer,
            sticky: service.sticky ? new algo.Cache(() => balancer.select()) : null,
          },
        ])(new algo[service.alg || 'RoundRobinLoadBalancer'](service.targets))
      )
    )
  ),

  _pool: { lastID: 0 },
  _connectionIDs: new algo.ResourcePool(() => ++_pool.lastID),

  _stickyKey: null,
  _pick: (service, key) => (
    service.sticky && key ? service.sticky.get(key) : service.balancer.select()
  ),

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
        service => _pick(service, _stickyKey),
        (service, target) => service.balancer.deselect(target),
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
    msg => (
      _stickyKey = msg.head?.headers?.['authorization'],
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

)(JSON.parse(pipy.load('config/balancer-advanced.json').toString().replace(
  new RegExp('\\$\\{(\\w+)\\}', 'g'), (_, name) => os.env[name]
)))

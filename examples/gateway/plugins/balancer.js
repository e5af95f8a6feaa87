// Forwards requests of known services to one of their targets (config/balancer.json).
// Targets are picked round robin once per client connection and kept for its later requests.
// Upstream connections are pooled: each (client connection, target) pair borrows a connection
// id, muxHTTP keeps one upstream connection per id, and ids freed by departed clients are
// handed to new ones, so their upstream connections are reused.
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

)(JSON.decode(pipy.load('config/balancer.json')))

// Forwards requests of known services to one of their targets (config/balancer.json).
// Targets are picked round robin once per client connection and kept for its later requests.
// Requests to one target share one upstream connection (muxHTTP keyed by the target, as in
// Pipy's tutorials 04-07): they are pipelined and their responses matched in order, so the
// upstream reads and writes them in batches.
(config =>

pipy({
  _services: Object.fromEntries(
    Object.entries(config.services).map(
      ([name, targets]) => [name, new algo.RoundRobinLoadBalancer(targets)]
    )
  ),

  _picked: null,
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
      )
    )
  )
  .handleStreamEnd(
    () => _picked.clear()
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
    () => _target
  )

.pipeline('upstream')
  .connect(
    () => _target
  )

)(JSON.decode(pipy.load('config/balancer.json')))

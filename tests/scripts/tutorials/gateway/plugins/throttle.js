// Caps the request rate of a service (all clients together): excess requests wait, they are
// never rejected.
(config =>

pipy({
  _rateLimit: undefined,
})

.import({
  __serviceID: 'router',
})

.pipeline('request')
  .handleStreamStart(
    () => _rateLimit = config.services[__serviceID]?.rateLimit
  )
  .link(
    'throttle', () => Boolean(_rateLimit),
    'pass'
  )

.pipeline('throttle')
  .throttleMessageRate(
    () => _rateLimit,
    () => __serviceID,
  )

.pipeline('pass')

)(JSON.decode(pipy.load('config/throttle.json')))

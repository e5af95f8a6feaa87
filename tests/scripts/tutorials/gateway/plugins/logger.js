// Access log shipped asynchronously: a copy of each request and of its response is forked off,
// turned into one JSON line, and the lines of all requests are merged into one shared session
// that batches them (pack) and POSTs each batch to the collector at logURL.
(config =>

pipy({
  _collector: new URL(config.logURL),
  _request: null,
  _requestTime: 0,
  _responseTime: 0,
})

.export('logger', {
  __logInfo: {},
})

.pipeline('request')
  .fork('copy-request')

.pipeline('response')
  .fork('copy-response')

.pipeline('copy-request')
  .handleMessageStart(
    () => _requestTime = Date.now()
  )
  .decompressHTTP()
  .handleMessage(
    '256k',
    msg => _request = msg
  )

.pipeline('copy-response')
  .handleMessageStart(
    () => _responseTime = Date.now()
  )
  .decompressHTTP()
  .replaceMessage(
    '256k',
    msg => new Message(
      JSON.encode({
        req: { ..._request.head, body: _request.body.toString() },
        res: { ...msg.head, body: msg.body.toString() },
        reqTime: _requestTime,
        resTime: _responseTime,
        endTime: Date.now(),
        remoteAddr: __inbound.remoteAddress,
        remotePort: __inbound.remotePort,
        localAddr: __inbound.localAddress,
        localPort: __inbound.localPort,
        ...__logInfo,
      }).push('\n')
    )
  )
  .merge('ship', '')

.pipeline('ship')
  .pack(
    config.batchSize,
    {
      // LOG_BATCH_TIMEOUT overrides the config, for tests of the last batch at shutdown.
      timeout: +(os.env.LOG_BATCH_TIMEOUT || config.batchTimeout),
    }
  )
  .replaceMessageStart(
    () => new MessageStart({
      method: 'POST',
      path: _collector.path,
      headers: {
        'Host': _collector.host,
        'Content-Type': 'application/json',
      },
    })
  )
  .encodeHTTPRequest()
  .connect(
    () => _collector.host,
    {
      bufferLimit: '8m',
    }
  )

)(JSON.parse(pipy.load('config/logger.json').toString().replace(
  new RegExp('\\$\\{(\\w+)\\}', 'g'), (_, name) => os.env[name]
)))

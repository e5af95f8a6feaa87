// Data, JSON.encode/decode, Date.now and os.env as scripts see them.
pipy()

.listen(+os.env.PORT)
.serveHTTP(
  () => new Message(JSON.stringify({
    size: new Data('h\u00e9llo').size,
    push: new Data('ab').push('cd').push(new Data('ef')).toString(),
    shift: (d => [d.shift(2).toString(), d.toString()])(new Data('abcdef')),
    hex: new Data('hi').toString('hex'),
    base64: new Data('hi').toString('base64'),
    fromBytes: new Data([104, 105]).toString(),
    fromHex: new Data('6869', 'hex').toString(),
    copy: new Data(new Data('xy')).toString(),
    encode: JSON.encode({ a: 1 }).toString(),
    decode: JSON.decode(new Data('{"b":2}')).b,
    now: typeof Date.now(),
    env: os.env.PIPY_TEST_MARKER,
  }))
)

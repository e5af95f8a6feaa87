// A sub-pipeline callback that throws on /throw (line 8) and answers normally otherwise.
pipy()

.listen(+os.env.PORT)
.demuxHTTP('req')

.pipeline('req')
.replaceMessage(msg => msg.head.path === '/throw' ? (() => { throw new Error('boom from demuxHTTP') })() : new Message('still serving'))

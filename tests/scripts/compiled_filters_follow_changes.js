// Filter callbacks evaluated natively (PORT) read script objects and a built-in that the
// engine-run callback on PORT2 changes; each change must be seen by the next request on PORT.
var routes = { '/a': { service: 'one' } }

pipy({
  _service: '',
})

.listen(os.env.PORT)
.demuxHTTP('req')

.pipeline('req')
.handleMessageStart(
  msg => _service = routes[msg.head.path] ? routes[msg.head.path].service : 'none'
)
.link(
  'one', () => _service === 'one',
  'two', () => _service === 'two',
  'truthy', () => Boolean(_service),
  'none'
)

.pipeline('one').replaceMessage(new Message('one'))
.pipeline('two').replaceMessage(new Message('two'))
.pipeline('truthy').replaceMessage(new Message('truthy'))
.pipeline('none').replaceMessage(new Message('none'))

.listen(os.env.PORT2)
.serveHTTP(
  msg => {
    var path = msg.head.path
    if (path === '/two') routes['/a'].service = 'two'
    if (path === '/three') routes['/a'] = { service: 'three' }
    if (path === '/boolean') Boolean = () => false
    if (path === '/remove') delete routes['/a']
    return new Message('changed ' + path)
  }
)

// Rewrites request bodies of the configured services from JSON to XML (or back) before they are
// forwarded. A body that is not a JSON object becomes <root><body></body></root>.
(config =>

pipy({
  _service: null,

  _toNodes: value => (
    typeof value === 'object' && value !== null ? (
      Object.entries(value).flatMap(
        ([name, v]) => (
          v instanceof Array ? v.map(item => new XML.Node(name, null, item instanceof Object ? _toNodes(item) : [item])) :
          v instanceof Object ? [new XML.Node(name, null, _toNodes(v))] :
          [new XML.Node(name, null, [v])]
        )
      )
    ) : [
      new XML.Node('body', null, [''])
    ]
  ),

  _toObject: node => (
    node ? node.children.reduce(
      (obj, child) => (
        child.children && (
          ((name, value, previous) => (
            previous = obj[name],
            previous instanceof Array ? previous.push(value) : (obj[name] = previous ? [previous, value] : value)
          ))(
            child.name,
            child.children.every(c => typeof c === 'string') ? child.children.join('') : _toObject(child),
          )
        ),
        obj
      ),
      {}
    ) : {}
  ),
})

.import({
  __serviceID: 'router',
})

.pipeline('request')
  .handleStreamStart(
    () => _service = config.services[__serviceID]
  )
  .link(
    'json2xml', () => Boolean(_service?.jsonToXml),
    'xml2json', () => Boolean(_service?.xmlToJson),
    'pass'
  )

.pipeline('json2xml')
  .replaceMessageBody(
    data => XML.encode(
      new XML.Node('', null, [new XML.Node('root', null, _toNodes(JSON.decode(data)))]),
      2,
    )
  )

.pipeline('xml2json')
  .replaceMessageBody(
    data => JSON.encode(_toObject(XML.decode(data)))
  )

.pipeline('pass')

)(JSON.decode(pipy.load('config/transform.json')))

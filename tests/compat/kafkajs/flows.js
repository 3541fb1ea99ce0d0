// kafkajs (npm, unmodified) against a kraft cluster's Kafka listeners: the flows a Node user runs.
// Driven by tests/cluster/test_kafkajs.py:  node flows.js <flow> <bootstrap> <name>
// Flows: admin, produce, group, timestamps. Prints one line "OK <json>" and exits 0, or prints the
// failure and exits 1. <name> prefixes every topic and group, so flows never share state.
'use strict'
const assert = require('assert/strict')
const { Kafka, logLevel, ConfigResourceTypes } = require('kafkajs')

const [flow, bootstrap, name] = process.argv.slice(2)
const kafka = new Kafka({
  clientId: `kraft-${flow}`,
  brokers: bootstrap.split(','),
  logLevel: logLevel.ERROR,
  retry: { initialRetryTime: 100, retries: 10 },
})

const deadline = (ms) => Date.now() + ms
// Waits for cond() to hold; an error thrown by it counts as "not yet" (new partitions answer
// LEADER_NOT_AVAILABLE until their Raft groups elect, as Kafka's do until the controller acts).
async function until (what, ms, cond) {
  const end = deadline(ms)
  let last = null
  for (;;) {
    try {
      const value = await cond()
      if (value) return value
    } catch (e) {
      last = e
    }
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? ` (last error: ${last})` : ''}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

async function createTopic (admin, topic, numPartitions) {
  const created = await admin.createTopics({ topics: [{ topic, numPartitions, replicationFactor: 3 }], waitForLeaders: true })
  assert.equal(created, true, `createTopics(${topic}) said it already existed`)
}

async function admin () {
  const a = kafka.admin()
  await a.connect()
  try {
    const topic = `${name}-admin`
    const group = `${name}-admin-group`
    await createTopic(a, topic, 3)
    assert.ok((await a.listTopics()).includes(topic), 'listTopics has the new topic')
    const meta = await a.fetchTopicMetadata({ topics: [topic] })
    assert.equal(meta.topics[0].partitions.length, 3)
    for (const p of meta.topics[0].partitions) assert.equal(p.replicas.length, 3)

    await a.createPartitions({ topicPartitions: [{ topic, count: 5 }] })
    await until('5 partitions in metadata', 15000, async () =>
      (await a.fetchTopicMetadata({ topics: [topic] })).topics[0].partitions.length === 5)

    const configs = await a.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: topic, configNames: ['retention.ms', 'cleanup.policy'] }],
    })
    const entries = Object.fromEntries(configs.resources[0].configEntries.map((e) => [e.configName, e.configValue]))
    assert.equal(configs.resources[0].errorCode, 0)
    assert.equal(entries['cleanup.policy'], 'delete')
    assert.ok(Number(entries['retention.ms']) !== 0, 'retention.ms is reported')

    const producer = kafka.producer({ idempotent: true })
    await producer.connect()
    await producer.send({ topic, acks: -1, messages: [0, 1, 2, 3, 4].map((i) => ({ partition: i % 5, value: `v${i}` })) })
    await producer.send({ topic, acks: -1, messages: [{ partition: 0, value: 'again' }] })
    await producer.disconnect()
    const ends = await a.fetchTopicOffsets(topic)
    ends.sort((x, y) => x.partition - y.partition)
    assert.deepEqual(ends.map((o) => [o.partition, o.low, o.high]),
      [[0, '0', '2'], [1, '0', '1'], [2, '0', '1'], [3, '0', '1'], [4, '0', '1']])

    // a group's offsets, set and reset by an operator while it has no members
    await a.setOffsets({ groupId: group, topic, partitions: [{ partition: 0, offset: '1' }, { partition: 1, offset: '1' }] })
    let fetched = await a.fetchOffsets({ groupId: group, topics: [topic] })
    const byPartition = (f) => Object.fromEntries(f[0].partitions.map((p) => [p.partition, p.offset]))
    assert.deepEqual(byPartition(fetched), { 0: '1', 1: '1', 2: '-1', 3: '-1', 4: '-1' })
    // resetOffsets commits Kafka's logical offsets, EARLIEST (-2) or LATEST (-1), which Kafka stores as
    // they are; kafkajs reads a negative committed offset as none (its subscription's fromBeginning
    // decides), other clients as the logical offset
    await a.resetOffsets({ groupId: group, topic, earliest: true })
    fetched = await a.fetchOffsets({ groupId: group, topics: [topic] })
    assert.deepEqual(byPartition(fetched), { 0: '-2', 1: '-2', 2: '-2', 3: '-2', 4: '-2' })
    const reader = kafka.consumer({ groupId: group, maxWaitTimeInMs: 500 })
    const read = []
    await reader.connect()
    await reader.subscribe({ topics: [topic], fromBeginning: true })
    await reader.run({ eachMessage: async ({ message }) => { read.push(message.value.toString()) } })
    await until('every record from the start', 30000, () => read.length >= 6)
    await reader.disconnect()
    assert.deepEqual(read.sort(), ['again', 'v0', 'v1', 'v2', 'v3', 'v4'])
    await a.resetOffsets({ groupId: group, topic })  // latest
    fetched = await a.fetchOffsets({ groupId: group, topics: [topic] })
    assert.deepEqual(byPartition(fetched), { 0: '-1', 1: '-1', 2: '-1', 3: '-1', 4: '-1' })

    const described = await a.describeGroups([group])
    assert.equal(described.groups[0].groupId, group)
    assert.equal(described.groups[0].errorCode, 0)
    assert.deepEqual(described.groups[0].members, [])
    const listed = await a.listGroups()
    assert.ok(listed.groups.some((g) => g.groupId === group), 'listGroups has the group with commits')

    let deleteGroups = 'deleted'
    try {
      const deleted = await a.deleteGroups([group])
      assert.equal(deleted[0].errorCode, 0)
      assert.ok(!(await a.listGroups()).groups.some((g) => g.groupId === group), 'a deleted group is not listed')
    } catch (e) {
      deleteGroups = `${e.name}: ${e.message}`
    }

    await a.deleteTopics({ topics: [topic] })
    await until('the topic to go', 15000, async () => !(await a.listTopics()).includes(topic))
    return { deleteGroups }
  } finally {
    await a.disconnect()
  }
}

async function produce () {
  const a = kafka.admin()
  await a.connect()
  const topic = `${name}-idem`
  await createTopic(a, topic, 4)
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 })
  await producer.connect()
  const sent = []
  for (let batch = 0; batch < 5; batch++) {
    const messages = []
    for (let i = 0; i < 40; i++) {
      const n = batch * 40 + i
      messages.push({ key: `k${n % 13}`, value: `v${n}`, headers: { n: `${n}`, src: 'kafkajs' } })
    }
    const acks = await producer.send({ topic, acks: -1, messages })
    sent.push(...acks)
  }
  await producer.disconnect()
  assert.ok(sent.every((r) => r.errorCode === 0))
  const ends = await a.fetchTopicOffsets(topic)
  const total = ends.reduce((sum, o) => sum + Number(o.high), 0)
  assert.equal(total, 200, 'each record is written once')
  assert.ok(ends.filter((o) => Number(o.high) > 0).length >= 3, 'keys spread over the partitions')

  // read it back: keys land where murmur2 puts them (the same key, the same partition), headers intact
  const consumer = kafka.consumer({ groupId: `${name}-idem-reader`, maxWaitTimeInMs: 500 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  const got = []
  await consumer.run({ eachMessage: async ({ partition, message }) => { got.push({ partition, message }) } })
  await until('200 records', 30000, () => got.length >= 200)
  await consumer.disconnect()
  await a.disconnect()
  const partitionOfKey = {}
  for (const { partition, message } of got) {
    const key = message.key.toString()
    assert.equal(partitionOfKey[key] ?? partition, partition, `key ${key} in one partition`)
    partitionOfKey[key] = partition
    assert.equal(message.headers.src.toString(), 'kafkajs')
    assert.equal(`v${message.headers.n.toString()}`, message.value.toString())
  }
  const values = new Set(got.map((g) => g.message.value.toString()))
  assert.equal(values.size, 200)
  return { partitions: ends.map((o) => [o.partition, Number(o.high)]), keyPartitions: partitionOfKey }
}

function member (groupId, topic, seen, label) {
  // short long-polls: kafkajs heartbeats (and so learns of a rebalance) between fetches
  const consumer = kafka.consumer({ groupId, sessionTimeout: 10000, heartbeatInterval: 500, rebalanceTimeout: 10000, maxWaitTimeInMs: 500 })
  const state = { consumer, assigned: [], label }
  consumer.on(consumer.events.GROUP_JOIN, (e) => { state.assigned = e.payload.memberAssignment[topic] || [] })
  state.start = async () => {
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: true })
    await consumer.run({
      autoCommitInterval: 200,
      eachMessage: async ({ partition, message }) => { seen.push([label, partition, message.value.toString()]) },
    })
  }
  return state
}

async function group () {
  const a = kafka.admin()
  await a.connect()
  const topic = `${name}-grp`
  const groupId = `${name}-group`
  await createTopic(a, topic, 4)
  const producer = kafka.producer({ idempotent: true })
  await producer.connect()
  const send = async (from, to) => {
    const messages = []
    for (let i = from; i < to; i++) messages.push({ partition: i % 4, value: `${i}` })
    await producer.send({ topic, acks: -1, messages })
  }
  const seen = []
  const first = member(groupId, topic, seen, 'A')
  const second = member(groupId, topic, seen, 'B')
  await first.start()
  await second.start()
  await until('both members with two partitions each', 30000,
    () => first.assigned.length === 2 && second.assigned.length === 2)
  assert.deepEqual([...first.assigned, ...second.assigned].sort(), [0, 1, 2, 3])
  await send(0, 200)
  await until('the first 200 records', 30000, () => new Set(seen.map((s) => s[2])).size >= 200)
  const byB = seen.filter((s) => s[0] === 'B').length
  assert.ok(byB > 0 && byB < 200, `both members consumed (B: ${byB})`)

  await second.consumer.disconnect()  // leaves the group; A takes over B's partitions
  await until('A with all four partitions', 30000, () => first.assigned.length === 4)
  await send(200, 400)
  await until('all 400 records', 30000, () => new Set(seen.map((s) => s[2])).size >= 400)
  const duplicates = seen.length - new Set(seen.map((s) => s[2])).size
  await first.consumer.disconnect()

  // a new member resumes from the group's committed offsets: it sees only what came after
  const committed = await a.fetchOffsets({ groupId, topics: [topic] })
  assert.deepEqual(committed[0].partitions.map((p) => p.offset).sort(), ['100', '100', '100', '100'])
  await send(400, 420)
  const later = []
  const third = member(groupId, topic, later, 'C')
  await third.start()
  await until('the 20 new records', 30000, () => later.length >= 20)
  await new Promise((resolve) => setTimeout(resolve, 500))  // room for a wrongly repeated record to show
  await third.consumer.disconnect()
  assert.deepEqual(later.map((s) => Number(s[2])).sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => 400 + i))

  const described = await a.describeGroups([groupId])
  assert.equal(described.groups[0].state, 'Empty')
  await producer.disconnect()
  await a.disconnect()
  return { consumedByB: byB, duplicates }
}

async function timestamps () {
  const a = kafka.admin()
  await a.connect()
  const topic = `${name}-ts`
  await createTopic(a, topic, 1)
  const producer = kafka.producer({ idempotent: true })
  await producer.connect()
  const t0 = 1700000000000
  const messages = Array.from({ length: 30 }, (_, i) => ({ value: `${i}`, timestamp: `${t0 + i * 1000}` }))
  await producer.send({ topic, acks: -1, messages: messages.slice(0, 10) })
  await producer.send({ topic, acks: -1, messages: messages.slice(10) })
  await producer.disconnect()
  const at = async (ts) => (await a.fetchTopicOffsetsByTimestamp(topic, ts))[0].offset
  assert.equal(await at(t0 + 12500), '13', 'the first record at or after the time, inside a batch')
  assert.equal(await at(t0), '0')
  assert.equal(await at(t0 + 60000), '30', 'after the last record: the end offset')

  // a consumer seeks to the offset found by timestamp and reads from there
  const consumer = kafka.consumer({ groupId: `${name}-ts-reader`, maxWaitTimeInMs: 500 })
  await consumer.connect()
  await consumer.subscribe({ topics: [topic], fromBeginning: true })
  const got = []
  await consumer.run({ autoCommit: false, eachMessage: async ({ message }) => { got.push([message.offset, message.timestamp]) } })
  consumer.seek({ topic, partition: 0, offset: await at(t0 + 20000) })
  await until('records from offset 20', 30000, () => got.length >= 10 && got[got.length - 1][0] === '29')
  const fromSeek = got.slice(got.findIndex((g) => g[0] === '20'))
  assert.deepEqual(fromSeek.map((g) => g[0]), Array.from({ length: 10 }, (_, i) => `${20 + i}`))
  assert.equal(fromSeek[0][1], `${t0 + 20000}`)
  await consumer.disconnect()
  await a.disconnect()
  return { recordsSeen: got.length }
}

const FLOWS = { admin, produce, group, timestamps }

async function main () {
  const run = FLOWS[flow]
  if (!run) throw new Error(`unknown flow ${flow}; one of ${Object.keys(FLOWS)}`)
  const out = await run()
  console.log(`OK ${JSON.stringify(out)}`)
}

// A kafkajs promise that never settles (a consumer that crashed inside an admin call) empties the
// event loop and Node would exit 0 with the flow unfinished: that is a failure too.
process.on('beforeExit', () => {
  console.error(`FAILED ${flow}: the event loop emptied before the flow finished (a kafkajs call never settled)`)
  process.exit(1)
})

main().then(() => process.exit(0), (e) => {
  console.error(`FAILED ${flow}: ${e && e.stack ? e.stack : e}`)
  process.exit(1)
})

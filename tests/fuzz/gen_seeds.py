#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/corpus/<target>/ (run from anywhere;
existing seeds of the same name are overwritten, others are left alone).

The seeds are committed; this script says what each one is and makes it easy
to add more. Inputs libFuzzer found and that are worth keeping (the inputs of
findings) are added to the corpus directories by hand, as crash-<what>.
"""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


# ---- a minimal msgpack packer (no third-party module needed) --------------

class Raw(bytes):
    """Bytes inserted as they are (hostile headers, truncations)."""


class Bin(bytes):
    """msgpack bin instead of str."""


def pack(o):
    if isinstance(o, Raw):
        return bytes(o)
    if o is None:
        return b'\xc0'
    if o is True:
        return b'\xc3'
    if o is False:
        return b'\xc2'
    if isinstance(o, int):
        if 0 <= o <= 0x7f:
            return bytes([o])
        if -32 <= o < 0:
            return struct.pack('b', o)
        if 0 <= o <= 0xff:
            return b'\xcc' + struct.pack('>B', o)
        if 0 <= o <= 0xffff:
            return b'\xcd' + struct.pack('>H', o)
        if 0 <= o <= 0xffffffff:
            return b'\xce' + struct.pack('>I', o)
        if 0 <= o:
            return b'\xcf' + struct.pack('>Q', o)
        if o >= -0x80:
            return b'\xd0' + struct.pack('>b', o)
        if o >= -0x8000:
            return b'\xd1' + struct.pack('>h', o)
        if o >= -0x80000000:
            return b'\xd2' + struct.pack('>i', o)
        return b'\xd3' + struct.pack('>q', o)
    if isinstance(o, float):
        return b'\xcb' + struct.pack('>d', o)
    if isinstance(o, Bin):
        n = len(o)
        if n <= 0xff:
            return b'\xc4' + bytes([n]) + o
        return b'\xc5' + struct.pack('>H', n) + o
    if isinstance(o, str):
        b = o.encode()
        n = len(b)
        if n <= 31:
            return bytes([0xa0 | n]) + b
        if n <= 0xff:
            return b'\xd9' + bytes([n]) + b
        return b'\xda' + struct.pack('>H', n) + b
    if isinstance(o, (list, tuple)):
        n = len(o)
        h = bytes([0x90 | n]) if n <= 15 else b'\xdc' + struct.pack('>H', n)
        return h + b''.join(pack(x) for x in o)
    if isinstance(o, dict):
        n = len(o)
        h = bytes([0x80 | n]) if n <= 15 else b'\xde' + struct.pack('>H', n)
        return h + b''.join(pack(k) + pack(v) for k, v in o.items())
    raise TypeError(o)


def req(msgid, method, args=None):
    return pack([0, msgid, method, [] if args is None else [args]])


def rpc_seeds():
    s = {}
    s['ping'] = req(1, 'ping')
    s['ping-bin-method'] = pack([0, 2, Bin(b'ping'), []])
    s['ping-nil-params'] = pack([0, 3, 'ping', [None]])
    s['timeline-get'] = req(4, 'timeline.get', {'user_id': 42, 'limit': 20, 'hydrate': True})
    s['timeline-get-cursor'] = req(5, 'timeline.get',
                                   {'user_id': 42, 'cursor': Bin(b'\x01\x02\x03\x04'),
                                    'limit': 50})
    s['publish'] = req(6, 'post.publish', {'author_id': 7, 'id': 123456789012345678,
                                           'created_at': 1700000000000, 'body': 'hello'})
    s['update-bin-body'] = req(7, 'post.update', {'id': 9, 'body': Bin(b'\x00\xffbody')})
    s['follow'] = req(8, 'follow', {'follower_id': 1, 'followee_id': 2})
    s['warm'] = req(9, 'warm', {'active_within_s': 86400, 'rate': 12.5, 'all': False})
    s['warm-rate-int'] = req(10, 'warm', {'rate': 200})
    s['warm-rate-nan'] = req(11, 'warm', {'rate': float('nan')})
    s['warm-rate-inf'] = req(12, 'warm', {'rate': float('inf')})
    s['float32-arg'] = pack(Raw(b'\x94\x00\x0d\xa4warm\x91\x81\xa4rate\xca\x41\x48\x00\x00'))
    s['invalidate-ids'] = req(13, 'timeline.invalidate', {'user_ids': [1, 2, 3]})
    s['dead-letters'] = req(14, 'fanout.dead_letters', {'after': '0-0', 'limit': 10})
    s['retry-job'] = req(15, 'fanout.retry', {'job': '1700000000000-0'})
    s['dup-keys-last-wins'] = pack(Raw(b'\x94\x00\x10\xactimeline.get\x91\x82'
                                       b'\xa7user_id\x01\xa7user_id\x02'))
    s['nil-arg'] = req(17, 'timeline.get', {'user_id': None, 'limit': None})
    s['wrong-types'] = req(18, 'timeline.get', {'user_id': 'x', 'limit': 1.5,
                                                'hydrate': 1, 'cursor': 5})
    s['int-extremes'] = req(19, 'timeline.get', {'user_id': 2**64 - 1, 'limit': -2**63,
                                                 'created_at': -1, 'id': 2**63})
    s['non-str-keys'] = pack([0, 20, 'x', [{1: 2, Bin(b'id'): 3, None: 4, 'after': [1]}]])
    s['nested-map-arg'] = req(21, 'x', {'user_id': {'a': {'b': {'c': [1, [2, [3]]]}}}})
    s['notification'] = pack([2, 'log', [{'level': 'info'}]])
    s['notification-positional'] = pack([2, Bin(b'nvim_set_client_info'),
                                         ['client', {'major': 0}, 'remote', {}, {}]])
    s['notification-bad'] = pack([2, 5, []])
    s['response'] = pack([1, 3, None, 'pong'])
    s['response-error'] = pack([1, 4, {'code': 'BAD_REQUEST', 'message': 'x'}, None])
    s['msgid-too-big'] = pack([0, 2**32, 'ping', []])
    s['msgid-negative'] = pack([0, -1, 'ping', []])
    s['msgid-str'] = pack([0, '1', 'ping', []])
    s['request-5-elements'] = pack([0, 1, 'ping', [], 1])
    s['params-not-array'] = pack([0, 1, 'ping', {'a': 1}])
    s['params-two-maps'] = pack([0, 1, 'ping', [{}, {}]])
    s['method-int'] = pack([0, 1, 7, []])
    s['type-3'] = pack([3, 1, 'ping', []])
    s['not-array'] = pack({'user_id': 1, 'limit': 5})
    s['empty-array'] = pack([])
    s['batch-3'] = req(1, 'ping') + req(2, 'timeline.get', {'user_id': 1}) + \
        pack([2, 'x', []])
    s['batch-then-partial'] = req(1, 'ping') + req(2, 'ping')[:5]
    s['batch-then-garbage'] = req(1, 'ping') + b'\xc1'
    s['reserved-c1'] = b'\x94\x00\x01\xc1'
    s['array32-huge'] = b'\xdd\xff\xff\xff\xff'
    s['map32-huge'] = b'\xdf\x7f\xff\xff\xff\x00'
    s['str32-huge'] = b'\x94\x00\x01\xdb\xff\xff\xff\xf0ping'
    s['bin32-huge'] = b'\xc6\x40\x00\x00\x00'
    s['ext32-huge'] = b'\xc9\xff\xff\xff\xff\x01'
    s['array16-short'] = b'\xdc\x00\x10\x00\x01'
    s['deep-nesting'] = b'\x91' * 17 + b'\x90'
    s['deep-nesting-ok'] = b'\x91' * 15 + b'\x90'
    s['deep-maps'] = b'\x81\xa1k' * 20 + b'\xc0'
    s['ext-types'] = pack([0, 1, 'x', [{'a': Raw(b'\xd4\x01\x02'), 'b': Raw(b'\xd8\x05' + b'\x00' * 16),
                                       'c': Raw(b'\xc7\x03\x07abc')}]])
    s['all-scalars'] = pack([0, 1, 'x', [{'n': None, 't': True, 'f': False, 'i8': -100,
                                         'u16': 60000, 'u32': 4000000000, 'd': 0.5,
                                         's8': 'x' * 40, 'b16': Bin(b'y' * 300)}]])
    s['fixint-stream'] = b'\x01\x02\x03'
    return s


def http_seeds():
    s = {}
    s['get-metrics'] = b'GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n'
    s['get-healthz'] = b'GET /healthz HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/7.88\r\nAccept: */*\r\n\r\n'
    s['head-metrics'] = b'HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n'
    s['get-query'] = b'GET /metrics?name[]=x&y=%20#frag HTTP/1.1\r\nHost: x\r\n\r\n'
    s['absolute-form'] = b'GET http://localhost:9464/healthz?verbose=1 HTTP/1.1\r\nHost: x\r\n\r\n'
    s['absolute-no-path'] = b'GET http://localhost:9464 HTTP/1.1\r\n\r\n'
    s['http10'] = b'GET /metrics HTTP/1.0\r\n\r\n'
    s['http10-keepalive'] = b'GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n'
    s['connection-close'] = b'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n'
    s['pipelined'] = (b'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'
                      b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
                      b'HEAD /nope HTTP/1.1\r\nHost: x\r\n\r\n')
    s['post-body'] = b'POST /metrics HTTP/1.1\r\nContent-Length: 5\r\n\r\nhelloGET / HTTP/1.1\r\n\r\n'
    s['body-too-large'] = b'POST / HTTP/1.1\r\nContent-Length: 100000\r\n\r\n'
    s['content-length-huge'] = b'POST / HTTP/1.1\r\nContent-Length: 18446744073709551615\r\n\r\n'
    s['content-length-twice'] = b'POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'
    s['chunked'] = (b'POST /metrics HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n'
                    b'5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n'
                    b'GET /healthz HTTP/1.1\r\n\r\n')
    s['chunked-huge'] = b'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n'
    s['chunked-and-length'] = (b'POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n'
                               b'Content-Length: 3\r\n\r\n0\r\n\r\n')
    s['oversized-header'] = b'GET / HTTP/1.1\r\nX-Big: ' + b'a' * 9000 + b'\r\n\r\n'
    s['many-headers'] = b'GET / HTTP/1.1\r\n' + b'X-A: b\r\n' * 1200 + b'\r\n'
    s['long-target'] = b'GET /' + b'm' * 8300 + b' HTTP/1.1\r\n\r\n'
    s['folded-header'] = b'GET / HTTP/1.1\r\nX-A: b\r\n  continued\r\n\r\n'
    s['bare-lf'] = b'GET /metrics HTTP/1.1\nHost: x\n\n'
    s['upgrade'] = b'GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x00'
    s['connect'] = b'CONNECT 127.0.0.1:9464 HTTP/1.1\r\n\r\n'
    s['options-star'] = b'OPTIONS * HTTP/1.1\r\n\r\n'
    s['bad-method'] = b'FOO / HTTP/1.1\r\n\r\n'
    s['bad-version'] = b'GET / HTTP/9.9\r\n\r\n'
    s['nul-in-target'] = b'GET /met\x00rics HTTP/1.1\r\n\r\n'
    s['space-in-header-name'] = b'GET / HTTP/1.1\r\nBad Name: x\r\n\r\n'
    s['partial'] = b'GET /metrics HTTP/1.1\r\nHost: loc'
    s['empty-lines-first'] = b'\r\n\r\nGET / HTTP/1.1\r\n\r\n'
    s['tls-hello'] = b'\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03'
    return s


def settings_seeds():
    s = {}
    s['empty'] = b''
    s['comments'] = b'# feedcached.conf\n\n   # indented comment\nfeed_ttl = 300\n'
    s['all-defaults'] = (b'listen = 127.0.0.1:7400\nmetrics_listen = 127.0.0.1:9464\n'
                         b'redis = redis://127.0.0.1:6379/0\npg = dbname=feedcache\n'
                         b'celebrity_threshold = 10000\nfeed_max = 800\nfeed_ttl = 300\n'
                         b'post_ttl = 3600\nkey_prefix = fc:\nmax_frame = 1048576\n'
                         b'log_level = info\nredis_pool = 4\nredis_timeout_ms = 1000\n'
                         b'pg_pool = 4\npg_timeout_ms = 2000\nmax_connections = 10000\n'
                         b'max_inflight = 50000\nmax_output = 16777216\n'
                         b'shutdown_timeout_ms = 8000\nfanout_queue_max = 1000000\n'
                         b'max_rebuilds = 0\nwarm_rate = 200\nwarm_window = 02:00-05:00\n'
                         b'fanout_max_attempts = 8\nfanout_claim_idle_ms = 30000\n'
                         b'fanout_retry_min_ms = 500\nfanout_retry_max_ms = 10000\n')
    s['quoted'] = b'pg = "host=127.0.0.1 port=5432 dbname=feedcache user=fc"\nkey_prefix="x:"\n'
    s['quoted-empty'] = b'warm_window = ""\n'
    s['quote-alone'] = b'key_prefix = "\n'
    s['unknown-key'] = b'feed_ttl = 300\nno_such_setting = 1\n'
    s['no-equals'] = b'feed_ttl 300\n'
    s['empty-key'] = b'= 5\n'
    s['empty-value'] = b'feed_ttl =\n'
    s['tabs-crlf'] = b'\tfeed_ttl\t=\t300\t\r\nlog_level = debug\r\n'
    s['no-final-newline'] = b'log_level = warn'
    s['uint-overflow'] = b'celebrity_threshold = 99999999999999999999999\n'
    s['uint-negative'] = b'feed_max = -1\n'
    s['uint-out-of-range'] = b'max_frame = 8\n'
    s['uint-hex'] = b'feed_max = 0x10\n'
    s['uint-spaces'] = b'feed_max = 1 0\n'
    s['str-too-long'] = b'key_prefix = ' + b'k' * 80 + b'\n'
    s['listen-unix'] = b'listen = unix:/tmp/feedcache.sock\nmetrics_listen = off\n'
    s['listen-ipv6'] = b'listen = [::1]:7400\nmetrics_listen = [::]:9464\n'
    s['listen-hostname'] = b'listen = example.com:7400\n'
    s['listen-bad-port'] = b'listen = 127.0.0.1:99999\n'
    s['redis-password'] = b'redis = redis://:s3cr%40t@127.0.0.1:6380/2\n'
    s['redis-unix'] = b'redis = unix:///run/redis.sock?db=3&password=x\n'
    s['redis-bad'] = b'redis = redis://redis.example:6379\n'
    s['pg-bad'] = b"pg = host='unterminated\n"
    s['pg-uri'] = b'pg = postgresql://fc@127.0.0.1:5432/feedcache?sslmode=disable\n'
    s['log-level-bad'] = b'log_level = verbose\n'
    s['window-wrap'] = b'warm_window = 23:30-04:15\n'
    s['window-bad'] = b'warm_window = 25:00-01:00\n'
    s['key-prefix-bad'] = b'key_prefix = fc {x}\n'
    s['equals-in-value'] = b'pg = dbname=a options=-c=b\n'
    s['repeated-key'] = b'feed_ttl = 1\nfeed_ttl = 2\nfeed_ttl = 3\n'
    s['nul-byte'] = b'feed_ttl = 3\x0000\nlog_level = info\n'
    s['long-line'] = b'pg = dbname=' + b'x' * 5000 + b'\n'
    s['flag-style-key'] = b'--feed-ttl = 5\nfeed-ttl = 5\n'
    return s


def rds_url_seeds():
    s = {}
    for name, url in [
        ('plain', 'redis://127.0.0.1:6379/0'),
        ('no-port', 'redis://127.0.0.1'),
        ('trailing-slash', 'redis://127.0.0.1:6379/'),
        ('localhost', 'redis://localhost:6380/15'),
        ('password', 'redis://:secret@127.0.0.1:6379/1'),
        ('user-password', 'redis://feedcache:secret@127.0.0.1:6379/1'),
        ('password-escapes', 'redis://:p%40ss%2Fw%3Ard@127.0.0.1/2'),
        ('password-at-sign', 'redis://:a@b@127.0.0.1'),
        ('password-bad-escape', 'redis://:%4@127.0.0.1'),
        ('password-nul-escape', 'redis://:%00@127.0.0.1'),
        ('password-trailing-percent', 'redis://:abc%@127.0.0.1'),
        ('password-long', 'redis://:' + 'p' * 300 + '@127.0.0.1'),
        ('userinfo-no-colon', 'redis://user@127.0.0.1'),
        ('ipv6', 'redis://[::1]:6379/0'),
        ('ipv6-no-port', 'redis://[2001:db8::1]'),
        ('ipv6-unclosed', 'redis://[::1:6379'),
        ('ipv6-v4-unbracketed', 'redis://::1:6379'),
        ('hostname', 'redis://redis.example.com:6379'),
        ('hostname-service', 'redis://:pw@redis:6379/1'),
        ('hostname-underscore', 'redis://feedcache_redis_1'),
        ('hostname-dash-first', 'redis://-redis:6379'),
        ('hostname-bad-char', 'redis://re!dis:6379'),
        ('ipv4-like-bad', 'redis://256.1.1.1:6379'),
        ('empty-host', 'redis://:6379'),
        ('port-zero', 'redis://127.0.0.1:0'),
        ('port-big', 'redis://127.0.0.1:65536'),
        ('port-huge', 'redis://127.0.0.1:99999999999'),
        ('port-empty', 'redis://127.0.0.1:/0'),
        ('port-sign', 'redis://127.0.0.1:+80'),
        ('db-big', 'redis://127.0.0.1/2147483648'),
        ('db-bad', 'redis://127.0.0.1/x'),
        ('query-tcp', 'redis://127.0.0.1:6379/0?timeout=1'),
        ('unix', 'unix:///var/run/redis/redis.sock'),
        ('unix-db', 'unix:///tmp/r.sock?db=2'),
        ('unix-db-password', 'unix:///tmp/r.sock?db=2&password=s%26cret'),
        ('unix-password-only', 'unix:///tmp/r.sock?password='),
        ('unix-relative', 'unix://tmp/r.sock'),
        ('unix-unknown-param', 'unix:///tmp/r.sock?foo=bar'),
        ('unix-empty-param', 'unix:///tmp/r.sock?&&db=1'),
        ('unix-long-path', 'unix:///' + 'd' * 200),
        ('rediss', 'rediss://127.0.0.1:6380'),
        ('cluster', 'redis-cluster://127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002'),
        ('cluster-one-seed', 'redis-cluster://localhost'),
        ('cluster-auth', 'redis-cluster://user:p%40ss@[::1]:7000,redis-1:7001'),
        ('cluster-db', 'redis-cluster://127.0.0.1:7000/1'),
        ('cluster-empty-seed', 'redis-cluster://127.0.0.1:7000,,127.0.0.1:7001'),
        ('cluster-no-seed', 'redis-cluster://'),
        ('cluster-many-seeds', 'redis-cluster://' + ','.join('h%d:%d' % (i, 7000 + i)
                                                            for i in range(20))),
        ('http', 'http://127.0.0.1:6379'),
        ('empty', ''),
        ('space', 'redis://127.0.0.1 :6379'),
        ('host-long', 'redis://' + '1' * 300),
    ]:
        s[name] = url.encode()
    return s


def dicts():
    return {
        'rpc': ['"\\x94\\x00"', '"\\x93\\x02"', '"\\x94\\x01"', '"\\x91\\x80"', '"\\xc0"',
                '"\\xc1"', '"\\xc2"', '"\\xc3"', '"\\xca"', '"\\xcb"', '"\\xcc"', '"\\xcd"',
                '"\\xce"', '"\\xcf"', '"\\xd0"', '"\\xd3"', '"\\xd4"', '"\\xd8"', '"\\xd9"',
                '"\\xda"', '"\\xdb"', '"\\xdc"', '"\\xdd"', '"\\xde"', '"\\xdf"', '"\\xc4"',
                '"\\xc6"', '"\\xc7"', '"\\xc9"', '"\\xff\\xff\\xff\\xff"',
                '"\\xa4ping"', '"\\xactimeline.get"', '"\\xa7user_id"', '"\\xa5limit"',
                '"\\xa6cursor"', '"\\xa7hydrate"', '"\\xa4rate"', '"\\xa4body"',
                '"\\xa2id"', '"\\xa3all"', '"\\xa3job"', '"\\xa5after"',
                '"\\xaacreated_at"', '"\\xa9author_id"', '"\\xa8user_ids"',
                '"\\xafactive_within_s"'],
        'http': ['"GET "', '"HEAD "', '"POST "', '"OPTIONS "', '"CONNECT "', '" HTTP/1.1\\x0d\\x0a"',
                 '" HTTP/1.0\\x0d\\x0a"', '"\\x0d\\x0a"', '"\\x0d\\x0a\\x0d\\x0a"', '"/metrics"',
                 '"/healthz"', '"http://"', '"Host: "', '"Connection: close"',
                 '"Connection: keep-alive"', '"Connection: Upgrade"', '"Upgrade: "',
                 '"Content-Length: "', '"Transfer-Encoding: chunked"', '"0\\x0d\\x0a\\x0d\\x0a"',
                 '"?"', '"#"', '"%"', '";"'],
        'settings': ['"="', '" = "', '"#"', '"\\x0a"', '"\\""', '"unix:/"', '"redis://"',
                     '"unix:///"', '"off"', '"127.0.0.1:"', '"[::1]:"', '"dbname="',
                     '"host="', '"postgresql://"', '"debug"', '"info"', '"warn"', '"error"',
                     '"18446744073709551615"', '"HH:MM-HH:MM"', '"00:00-23:59"'] +
                    ['"%s"' % k for k in (
                        'listen', 'metrics_listen', 'redis', 'pg', 'celebrity_threshold',
                        'feed_max', 'feed_ttl', 'post_ttl', 'key_prefix', 'max_frame',
                        'log_level', 'redis_pool', 'redis_timeout_ms', 'pg_pool',
                        'pg_timeout_ms', 'max_connections', 'max_inflight', 'max_output',
                        'shutdown_timeout_ms', 'fanout_queue_max', 'max_rebuilds',
                        'warm_rate', 'warm_window', 'fanout_max_attempts',
                        'fanout_claim_idle_ms', 'fanout_retry_min_ms',
                        'fanout_retry_max_ms', 'fanout_shards', 'instance_id')],
        'rds_url': ['"redis://"', '"unix://"', '"rediss://"', '"redis-cluster://"', '","', '"127.0.0.1"', '"localhost"',
                    '"[::1]"', '"[::ffff:127.0.0.1]"', '"redis"', '"-"', '"_"', '"."', '":6379"', '"@"', '":"', '"/"',
                    '"?db="', '"&password="', '"%"', '"%40"', '"%00"', '"65535"', '"65536"',
                    '"2147483647"'],
    }


def main():
    for target, seeds in (('rpc', rpc_seeds()), ('http', http_seeds()),
                          ('settings', settings_seeds()), ('rds_url', rds_url_seeds())):
        d = os.path.join(HERE, 'corpus', target)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            with open(os.path.join(d, name), 'wb') as f:
                f.write(data)
    for target, words in dicts().items():
        with open(os.path.join(HERE, target + '.dict'), 'w') as f:
            f.write('# libFuzzer dictionary for fuzz_%s (written by gen_seeds.py)\n' % target)
            for w in words:
                f.write(w + '\n')


if __name__ == '__main__':
    main()

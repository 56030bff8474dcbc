#!/bin/sh
# Runs inside a unit: tries to send something to each target, every way at once, and prints one line
# per try: "<how> <target> <verdict>". Targets are given as arguments, "tcp:HOST:PORT" (HOST may be a
# name, any spelling of an IPv4 address, or [IPv6]) or "udp:ADDRESS:PORT".
#   tcp: curl to http://HOST:PORT/ ; verdict "blocked" (curl: cannot resolve, cannot connect, timed
#        out) or "reached rc=N" (anything else: a connection was made)
#   udp: a DNS query datagram sent with perl; verdict "sent" or "unsent <error>" (whether it arrived is
#        for the receiver to say: the test counts what its servers got)
# No proxy variables: the unit's own are ignored, the tries go direct. PROBE_PARALLEL tries at a time
# (default 6): 15 at once ended a gVisor unit (runsc exited 2) within its 512 MiB and 256 processes, so
# where a blocked try fails at once (no interface: Docker, gVisor) the test runs them one by one.
unset HTTP_PROXY HTTPS_PROXY http_proxy https_proxy ALL_PROXY all_proxy NO_PROXY no_proxy
out=$(mktemp -d)
i=0
for target in "$@"; do
  i=$((i + 1))
  proto=${target%%:*}
  rest=${target#*:}
  port=${rest##*:}
  host=${rest%:*}
  case $proto in
    tcp)
      (
        curl -s -o /dev/null --max-time 4 --connect-timeout 3 "http://$host:$port/"
        rc=$?
        case $rc in
          6 | 7 | 28) echo "tcp $host:$port blocked" ;;
          *) echo "tcp $host:$port reached rc=$rc" ;;
        esac
      ) >"$out/$i" 2>&1 &
      ;;
    udp)
      (
        # a DNS query for warden-probe.invalid (id 0x5752, recursion desired), to whatever listens there
        perl -MIO::Socket::IP -e '
          my ($h, $p) = @ARGV; $h =~ s/^\[(.*)\]$/$1/;
          my $q = pack("n6", 0x5752, 0x0100, 1, 0, 0, 0) . "\x0cwarden-probe\x07invalid\x00" . pack("n2", 1, 1);
          my $s = IO::Socket::IP->new(PeerHost => $h, PeerPort => $p, Proto => "udp") or do { print "udp $ARGV[0]:$p unsent $!\n"; exit };
          print defined($s->send($q)) ? "udp $ARGV[0]:$p sent\n" : "udp $ARGV[0]:$p unsent $!\n";
        ' "$host" "$port"
      ) >"$out/$i" 2>&1 &
      ;;
    *) echo "bad target $target" >"$out/$i" ;;
  esac
  [ $((i % ${PROBE_PARALLEL:-6})) -ne 0 ] || wait
done
wait
n=1
while [ "$n" -le "$i" ]; do
  cat "$out/$n"
  n=$((n + 1))
done
rm -rf "$out"

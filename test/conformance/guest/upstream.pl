#!/usr/bin/perl
# A counting upstream for the egress tests, run in a peer the test made on the backend's own network
# (Kubernetes: a pod of the sandbox image, perl-base only). Listens on PORT for TCP and UDP; prints one
# line per TCP connection ("tcp <peer>") and per datagram ("udp <peer> <bytes>"), and answers TCP
# with a short HTTP response. The test counts the lines (the pod's log) before and after its tries.
use strict;
use warnings;
use IO::Select;
use IO::Socket::IP;

my ($port) = @ARGV;
$| = 1;
my $tcp = IO::Socket::IP->new(LocalAddr => '::', LocalPort => $port, Listen => 64, ReuseAddr => 1, V6Only => 0) or die "tcp listen: $!";
my $udp = IO::Socket::IP->new(LocalAddr => '::', LocalPort => $port, Proto => 'udp', V6Only => 0) or die "udp bind: $!";
print "listening $port\n";
my $sel = IO::Select->new($tcp, $udp);
while (1) {
  for my $s ($sel->can_read) {
    if ($s == $tcp) {
      my $c = $tcp->accept or next;
      (my $peer = $c->peerhost // '?') =~ s/^::ffff://;
      print "tcp $peer\n";
      print $c "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nupstream\n";
      close $c;
    } else {
      my $buf = '';
      my $from = $udp->recv($buf, 65535);
      print 'udp ', length($buf), "\n";
    }
  }
}

#!/usr/bin/perl
# A fake upstream for Kubernetes tests: answers every request on port 8080 with "hello from NAME"
# (HTTP/1.1, Content-Length, connection closed), and prints each request line to stdout.
# Runs in a pod of the sandbox image (perl-base: no modules beyond IO::Socket::IP).
use strict;
use warnings;
use IO::Socket::IP;

my ($name) = @ARGV;
$| = 1;
my $server = IO::Socket::IP->new(LocalAddr => '0.0.0.0', LocalPort => 8080, Listen => 64, ReuseAddr => 1) or die "listen: $!";
while (my $c = $server->accept) {
  my $line = <$c>;
  next unless defined $line;
  print "request $line";
  while (my $h = <$c>) { last if $h =~ /^\r?\n$/ }
  my $body = "hello from $name\n";
  print $c "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " . length($body) . "\r\nConnection: close\r\n\r\n$body";
  close $c;
}

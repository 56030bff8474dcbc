#!/usr/bin/perl
# warden-pty: terminal sessions inside a sandbox that outlive any one connection.
#
# Runs inside the sandbox as the sandbox user, passed to `perl -e` by Warden (perl-base is in every
# Debian-based image; no file is added to the image). Three modes:
#
#   serve ID COLS ROWS -- CMD...   the holder: owns the pseudo-terminal, runs CMD on it in a new
#                                  session, keeps the last 64 KiB of output for late attachers,
#                                  answers attachers on a unix socket, writes ID.exit when CMD ends.
#   attach ID [NONCE]              the relay: bridges its own stdio (a terminal Warden's exec gives it)
#                                  to the holder; forwards window-size changes; ends its output with
#                                  ESC ] 5379;warden-exit;NONCE;CODE BEL, waits for a Ctrl-D from the
#                                  host, and exits with CMD's code.
#   status [ID]                    one line per session: "ID running", "ID exited CODE" or "ID gone".
#   resize ID COLS ROWS            set the window size; returns once the holder applied it.
#
# Frames on the socket, both ways: 1 type byte, 4-byte big-endian length, payload.
#   to the holder:   d = keyboard input, r = resize (two 16-bit numbers: cols, rows),
#                    g = an attachment is ready (the first one starts CMD, so it sees all its output)
#   from the holder: d = terminal output, x = CMD exited (payload: the exit code as text),
#                    a = a resize was applied
#
# The holder is not marked with the session's exec id (only CMD and its children are), so Warden's
# tree kill and timeout watcher end CMD exactly as for any exec, and the holder lives to report the code.
use strict;
use warnings;
use POSIX qw(:sys_wait_h setsid);
use Socket qw(AF_UNIX SOCK_STREAM pack_sockaddr_un);
use Fcntl qw(O_RDWR O_NOCTTY F_GETFL F_SETFL O_NONBLOCK);
use Errno qw(EAGAIN EINTR EIO);

my $TIOCSPTLCK = 0x40045431;
my $TIOCGPTN   = 0x80045430;
my $TIOCSWINSZ = 0x5414;
my $TIOCGWINSZ = 0x5413;
my $RING       = 64 * 1024;
my $HIGH_WATER = 256 * 1024;   # stop reading the terminal while a client is this far behind
my $STALL_SECS = 10;           # a client that takes nothing for this long while behind is dropped

my $dir = "/tmp/.warden-pty-$<";
# --dir DIR: another session folder (the host-side tests of this script; Warden never passes it)
if (@ARGV >= 2 && $ARGV[0] eq '--dir') { shift @ARGV; $dir = shift @ARGV }
my ($mode, @args) = @ARGV;
$mode //= '';
# (no `$0 = ...`: perl would write the new name over the environment block, and Warden finds an exec's
# processes by the mark in their environment)

sub fail { print STDERR "warden-pty: $_[0]\n"; exit($_[1] // 255) }

sub check_id { my $id = shift // ''; fail("bad session id '$id'") unless $id =~ /^[A-Za-z0-9_-]{1,64}$/; $id }

# The session folder: ours, a real directory (not a link another process planted), closed to others.
sub session_dir {
  if (!lstat $dir) { mkdir $dir, 0700 or fail("cannot create $dir: $!") }
  my @st = lstat $dir;
  fail("$dir is not a directory owned by uid $<") unless -d _ && !-l _ && $st[4] == $<;
  chmod 0700, $dir;
  $dir;
}

sub frame { my ($t, $p) = @_; $t . pack('N', length $p) . $p }

# Pull complete frames out of a buffer; returns a list of [type, payload].
sub frames {
  my $buf = shift;
  my @out;
  while (length($$buf) >= 5) {
    my $len = unpack('N', substr($$buf, 1, 4));
    last if length($$buf) < 5 + $len;
    push @out, [substr($$buf, 0, 1), substr($$buf, 5, $len)];
    substr($$buf, 0, 5 + $len, '');
  }
  @out;
}

sub nonblock { my $fh = shift; my $f = fcntl($fh, F_GETFL, 0); fcntl($fh, F_SETFL, $f | O_NONBLOCK) }

sub exit_code_of { my $s = shift; WIFEXITED($s) ? WEXITSTATUS($s) : WIFSIGNALED($s) ? 128 + WTERMSIG($s) : 255 }

sub read_exit { my $id = shift; open(my $f, '<', "$dir/$id.exit") or return undef; my $c = <$f>; close $f; defined $c && $c =~ /^(\d+)/ ? $1 : undef }

sub serve {
  my ($id, $cols, $rows, $sep, @cmd) = @_;
  $id = check_id($id);
  fail('usage: serve ID COLS ROWS -- CMD...') unless defined $sep && $sep eq '--' && @cmd;
  session_dir();
  my $path = "$dir/$id.sock";
  fail("session $id exists") if -e $path || -e "$dir/$id.exit";

  sysopen(my $m, '/dev/ptmx', O_RDWR | O_NOCTTY) or fail("no pseudo-terminal: $!");
  my $unlock = pack('i', 0);
  ioctl($m, $TIOCSPTLCK, $unlock) or fail("unlockpt: $!");
  my $n = pack('I', 0);
  ioctl($m, $TIOCGPTN, $n) or fail("ptsname: $!");
  my $slave = '/dev/pts/' . unpack('I', $n);
  my $ws = pack('S4', $rows || 24, $cols || 80, 0, 0);
  ioctl($m, $TIOCSWINSZ, $ws);

  socket(my $l, AF_UNIX, SOCK_STREAM, 0) or fail("socket: $!");
  bind($l, pack_sockaddr_un($path)) or fail("bind $path: $!");
  listen($l, 16) or fail("listen: $!");

  pipe(my $sig_r, my $sig_w) or fail("pipe: $!");
  nonblock($sig_w);
  $SIG{CHLD} = sub { syswrite($sig_w, 'c') };
  $SIG{PIPE} = 'IGNORE';
  $SIG{HUP} = 'IGNORE';

  # the program starts when the first attachment says it is ready (so it sees all output), or after 30 s
  pipe(my $go_r, my $go_w) or fail("pipe: $!");
  my $pid = fork;
  fail("fork: $!") unless defined $pid;
  if ($pid == 0) {
    close $l; close $sig_r; close $sig_w; close $go_w;
    sysread($go_r, my $go, 1);
    close $go_r;
    setsid();
    # opening the terminal as a session leader makes it the controlling terminal
    sysopen(my $s, $slave, O_RDWR) or do { print STDERR "warden-pty: $slave: $!\n"; POSIX::_exit(126) };
    close $m;
    POSIX::dup2(fileno $s, $_) for 0 .. 2;
    close $s if fileno($s) > 2;
    $ENV{WARDEN_EXEC_ID} = $id;
    $ENV{TERM} = 'xterm-256color' unless $ENV{TERM} && $ENV{TERM} ne 'dumb';
    delete $ENV{WARDEN_PTY_HOLDER};
    $SIG{$_} = 'DEFAULT' for qw(CHLD PIPE HUP);
    { no warnings 'exec'; exec { $cmd[0] } @cmd; }
    my $code = $!{ENOENT} ? 127 : 126;
    print STDERR "warden: $cmd[0]: " . ($code == 127 ? 'command not found' : "cannot run: $!") . "\r\n";
    POSIX::_exit($code);
  }

  # tell the starter the session exists, then go on quietly whatever happens to its connection
  syswrite(STDOUT, "ready\n");
  open(STDIN, '<', '/dev/null'); open(STDOUT, '>', '/dev/null'); open(STDERR, '>', '/dev/null');
  close $go_r;
  my $go_by = time + 30;
  nonblock($m);
  nonblock($l);
  my $ring = '';
  my %c;    # fileno => { fh, in, out, stalled_since }
  my ($status, $master_open) = (undef, 1);

  my $broadcast = sub {
    my $data = shift;
    $_->{out} .= $data for values %c;
  };
  my $drop = sub { my $k = shift; close $c{$k}{fh}; delete $c{$k} };

  while (1) {
    my $behind = grep { length($_->{out}) > $HIGH_WATER } values %c;
    my ($rin, $win) = ('', '');
    vec($rin, fileno $l, 1) = 1;
    vec($rin, fileno $sig_r, 1) = 1;
    vec($rin, fileno $m, 1) = 1 if $master_open && !$behind;
    for my $k (keys %c) {
      vec($rin, $k, 1) = 1;
      vec($win, $k, 1) = 1 if length $c{$k}{out};
    }
    if ($go_w && time >= $go_by) { close $go_w; undef $go_w }
    my $nfound = select(my $rout = $rin, my $wout = $win, undef, $behind ? 1 : $go_w ? $go_by - time + 0.05 : undef);
    if ($nfound < 0) { next if $! == EINTR; last }

    if (vec($rout, fileno $sig_r, 1)) {
      sysread($sig_r, my $junk, 64);
      my $w = waitpid($pid, WNOHANG);
      $status = $? if $w == $pid;
    }
    if ($master_open && vec($rout, fileno $m, 1)) {
      my $r = sysread($m, my $buf, 65536);
      if ($r) {
        $ring .= $buf;
        substr($ring, 0, length($ring) - $RING, '') if length $ring > $RING;
        $broadcast->(frame('d', $buf));
      } elsif (!defined $r && ($! == EAGAIN || $! == EINTR)) {
      } else { $master_open = 0 }    # EIO: every holder of the terminal's other end is gone
    }
    if (vec($rout, fileno $l, 1)) {
      if (accept(my $cl, $l)) {
        nonblock($cl);
        $c{fileno $cl} = { fh => $cl, in => '', out => length $ring ? frame('d', $ring) : '', since => undef };
      }
    }
    for my $k (keys %c) {
      my $cl = $c{$k};
      if (vec($rout, $k, 1)) {
        my $r = sysread($cl->{fh}, my $buf, 65536);
        if (!$r && !(defined $r ? 0 : ($! == EAGAIN || $! == EINTR))) { $drop->($k); next }
        $cl->{in} .= $buf if $r;
        for my $f (frames(\$cl->{in})) {
          my ($t, $p) = @$f;
          if ($t eq 'd') { syswrite($m, $p) if $master_open }
          elsif ($t eq 'g') { if ($go_w) { close $go_w; undef $go_w } }    # an attachment is there: start
          elsif ($t eq 'r' && length($p) == 4) {
            my ($cc, $rr) = unpack('nn', $p);
            my $ws = pack('S4', $rr, $cc, 0, 0);
            ioctl($m, $TIOCSWINSZ, $ws) if $cc && $rr;
            $cl->{out} .= frame('a', '');    # applied (the resize mode waits for it)
          }
        }
      }
      if (length $cl->{out} && vec($wout, $k, 1)) {
        my $w = syswrite($cl->{fh}, $cl->{out});
        if (defined $w) { substr($cl->{out}, 0, $w, ''); $cl->{since} = undef }
        elsif ($! != EAGAIN && $! != EINTR) { $drop->($k); next }
      }
      if (length($cl->{out}) > $HIGH_WATER) {
        $cl->{since} //= time;
        $drop->($k) if time - $cl->{since} > $STALL_SECS;
      }
    }

    if (defined $status) {
      # CMD is gone: take what it wrote last, then tell everyone its code
      while ($master_open) {
        my $r = sysread($m, my $buf, 65536);
        last unless $r;
        $broadcast->(frame('d', $buf));
      }
      my $code = exit_code_of($status);
      if (open(my $f, '>', "$dir/$id.exit.tmp")) { print $f "$code\n"; close $f; rename "$dir/$id.exit.tmp", "$dir/$id.exit" }
      unlink $path;
      $broadcast->(frame('x', $code));
      for my $cl (values %c) {
        my $fh = $cl->{fh};
        my $f = fcntl($fh, F_GETFL, 0);
        fcntl($fh, F_SETFL, $f & ~O_NONBLOCK);
        my $deadline = time + 5;
        local $SIG{ALRM} = sub { die "stalled\n" };
        alarm 5;
        eval { while (length $cl->{out}) { my $w = syswrite($fh, $cl->{out}); last unless defined $w; substr($cl->{out}, 0, $w, '') } };
        alarm 0;
        close $fh;
      }
      exit 0;
    }
  }
  exit 1;
}

# The relay's way out: a marker after the last output, then wait for the host to take it. An engine drops
# what a terminal exec wrote last when the process exits right after writing it, so the relay stays until
# the host has read everything (it answers the marker with one byte), or 10 s pass.
sub relay_exit {
  my ($code, $nonce) = @_;
  if (defined $nonce) {
    my $mark = "\e]5379;warden-exit;$nonce;$code\a";
    my $off = 0;
    while ($off < length $mark) { my $w = syswrite(STDOUT, $mark, length($mark) - $off, $off); last unless defined $w; $off += $w }
    my $rin = '';
    vec($rin, 0, 1) = 1;
    my $until = time + 10;
    while (time < $until) {
      my $n = select(my $rout = $rin, undef, undef, $until - time);
      next if $n < 0 && $! == EINTR;
      last if $n <= 0;
      my $r = sysread(STDIN, my $buf, 4096);
      last if !defined $r || $r == 0 || index($buf, "\x04") >= 0;
    }
  }
  exit $code;
}

sub attach {
  my $id = check_id(shift);
  my $nonce = shift;
  undef $nonce if defined $nonce && $nonce !~ /^[A-Za-z0-9]{8,64}$/;
  session_dir();
  socket(my $s, AF_UNIX, SOCK_STREAM, 0) or fail("socket: $!");
  unless (connect($s, pack_sockaddr_un("$dir/$id.sock"))) {
    my $code = read_exit($id);
    relay_exit($code, $nonce) if defined $code;
    print STDERR "warden-pty: no terminal session $id in this sandbox\r\n";
    relay_exit(255, $nonce);
  }
  $SIG{PIPE} = 'IGNORE';
  my $tty = -t STDIN;
  if ($tty) {
    # raw: every key (Ctrl-C too) goes to the session's terminal, which does its own line discipline
    my $t = POSIX::Termios->new;
    $t->getattr(0);
    $t->setlflag($t->getlflag & ~(POSIX::ECHO | POSIX::ICANON | POSIX::ISIG | POSIX::IEXTEN));
    $t->setiflag($t->getiflag & ~(POSIX::BRKINT | POSIX::ICRNL | POSIX::INPCK | POSIX::ISTRIP | POSIX::IXON));
    $t->setoflag($t->getoflag & ~POSIX::OPOST);
    $t->setcflag(($t->getcflag & ~POSIX::CSIZE) | POSIX::CS8);
    $t->setcc(POSIX::VMIN, 1);
    $t->setcc(POSIX::VTIME, 0);
    $t->setattr(0, POSIX::TCSANOW);
  }
  pipe(my $sig_r, my $sig_w) or fail("pipe: $!");
  nonblock($sig_w);
  my $send_size = sub {
    return unless $tty;
    my $ws = "\0" x 8;
    return unless ioctl(STDIN, $TIOCGWINSZ, $ws);
    my ($rows, $cols) = unpack('S4', $ws);
    syswrite($s, frame('r', pack('nn', $cols, $rows))) if $rows && $cols;
  };
  $SIG{WINCH} = sub { syswrite($sig_w, 'w') };
  $send_size->();
  syswrite($s, frame('g', ''));
  my ($in, $stdin_open) = ('', 1);
  while (1) {
    my $rin = '';
    vec($rin, fileno $s, 1) = 1;
    vec($rin, fileno $sig_r, 1) = 1;
    vec($rin, 0, 1) = 1 if $stdin_open;
    my $n = select(my $rout = $rin, undef, undef, undef);
    if ($n < 0) { next if $! == EINTR; last }
    if (vec($rout, fileno $sig_r, 1)) { sysread($sig_r, my $junk, 64); $send_size->() }
    if ($stdin_open && vec($rout, 0, 1)) {
      my $r = sysread(STDIN, my $buf, 65536);
      if ($r) { syswrite($s, frame('d', $buf)) }
      elsif (!defined $r && ($! == EAGAIN || $! == EINTR)) { }
      else { $stdin_open = 0 }
    }
    if (vec($rout, fileno $s, 1)) {
      my $r = sysread($s, my $buf, 65536);
      if (!$r) {
        next if !defined $r && ($! == EAGAIN || $! == EINTR);
        my $code = read_exit($id);
        relay_exit(defined $code ? $code : 255, $nonce);
      }
      $in .= $buf;
      for my $f (frames(\$in)) {
        my ($t, $p) = @$f;
        if ($t eq 'd') {
          my $off = 0;
          while ($off < length $p) { my $w = syswrite(STDOUT, $p, length($p) - $off, $off); last unless defined $w; $off += $w }
        } elsif ($t eq 'x') { relay_exit($p =~ /^(\d+)/ ? $1 : 255, $nonce) }
      }
    }
  }
  exit 255;
}

# Set the window size and return once the holder has applied it (so output after it has the new size).
sub resize {
  my ($id, $cols, $rows) = @_;
  $id = check_id($id);
  fail('usage: resize ID COLS ROWS', 2) unless ($cols // '') =~ /^\d+$/ && ($rows // '') =~ /^\d+$/;
  session_dir();
  socket(my $s, AF_UNIX, SOCK_STREAM, 0) or fail("socket: $!");
  connect($s, pack_sockaddr_un("$dir/$id.sock")) or fail("no terminal session $id in this sandbox", 3);
  syswrite($s, frame('r', pack('nn', $cols, $rows)));
  my $in = '';
  while (1) {
    my $r = sysread($s, my $buf, 65536);
    exit 3 unless $r;
    $in .= $buf;
    for my $f (frames(\$in)) { exit 0 if $f->[0] eq 'a' || $f->[0] eq 'x' }
  }
}

sub status {
  my $only = shift;
  session_dir();
  my @ids;
  if (defined $only) { @ids = (check_id($only)) }
  else {
    opendir(my $d, $dir) or exit 0;
    my %seen;
    for (readdir $d) { $seen{$1} = 1 if /^([A-Za-z0-9_-]+)\.(sock|exit)$/ }
    @ids = sort keys %seen;
  }
  for my $id (@ids) {
    my $code = read_exit($id);
    if (defined $code) { print "$id exited $code\n"; next }
    socket(my $s, AF_UNIX, SOCK_STREAM, 0) or fail("socket: $!");
    print connect($s, pack_sockaddr_un("$dir/$id.sock")) ? "$id running\n" : "$id gone\n";
    close $s;
  }
  exit 0;
}

if ($mode eq 'serve') { serve(@args) }
elsif ($mode eq 'attach') { attach(@args) }
elsif ($mode eq 'status') { status(@args) }
elsif ($mode eq 'resize') { resize(@args) }
else { fail('usage: serve ID COLS ROWS -- CMD... | attach ID | status [ID]', 2) }

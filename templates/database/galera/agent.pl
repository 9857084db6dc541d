#!/usr/bin/perl
# agent.pl -- the member's state, one line per TCP connection: HAProxy's agent-check reads it to
# send the writer endpoint's connections only to a member that is Primary and Synced (HAProxy's own
# mysql-check cannot see the Galera state), and member.sh reads it on its peers to decide whether a
# cluster is already running. misp-gen renders this file unchanged; member.sh starts it in the
# member's container (perl and its core IO::Socket are in the official mariadb image: mariadb-server
# depends on perl).
#
# The line, HAProxy agent syntax ("up"/"down", then a comment after '#'):
#   up #status=Primary state=Synced uuid=U seqno=N fresh=0        the server answers, Primary + Synced
#   down #status=S state=T uuid=U seqno=N fresh=F                 the server answers, anything else
#   down #status=none state=none uuid=U seqno=N safe=B fresh=F    the server does not answer (stopped,
#                                                                 starting, in a state transfer or
#                                                                 waiting for a Primary Component):
#                                                                 U, N, B from grastate.dat
# fresh=1: this member has never been part of a cluster: no cluster UUID in grastate.dat, no
# galera.cache, no gvwstate.dat (always read from the datadir: a member that waits for a Primary
# Component reports no UUID).
#
# Environment:
#   GALERA_AGENT_PORT             TCP port to listen on (default 9200)
#   GALERA_MONITOR_PASSWORD_FILE  password of galera_monitor@localhost (see init-users.sh)
#   GALERA_DATADIR                the datadir (default /var/lib/mysql)
use strict;
use warnings;
use IO::Socket::INET;

my $port    = $ENV{GALERA_AGENT_PORT} || 9200;
my $datadir = $ENV{GALERA_DATADIR}    || '/var/lib/mysql';
my $pwfile  = $ENV{GALERA_MONITOR_PASSWORD_FILE} or die "agent: GALERA_MONITOR_PASSWORD_FILE is not set\n";
my $zero    = '00000000-0000-0000-0000-000000000000';
$SIG{PIPE} = 'IGNORE';

sub slurp {
    my ($f) = @_;
    open(my $fh, '<', $f) or return undef;
    local $/;
    my $s = <$fh>;
    close $fh;
    return $s;
}

# Never part of a cluster: no cluster UUID in grastate.dat, and none of the files the provider
# leaves once it ran (galera.cache, gvwstate.dat; a state transfer can remove grastate.dat for a
# moment, never these).
sub fresh {
    my ($u) = @_;
    return 0 if -e "$datadir/galera.cache" || -e "$datadir/gvwstate.dat";
    return (!defined $u || $u eq '' || $u eq $zero) ? 1 : 0;
}

# grastate.dat: this member's cluster identity, kept across restarts (a running member's status
# says nothing of it before it reaches a Primary Component, so "fresh" is read here only).
sub grastate {
    my $g = slurp("$datadir/grastate.dat") // '';
    my ($uuid) = $g =~ /^uuid:\s*(\S+)/m;
    my ($seq)  = $g =~ /^seqno:\s*(-?\d+)/m;
    my ($safe) = $g =~ /^safe_to_bootstrap:\s*(\d)/m;
    return { uuid => $uuid, seqno => $seq, safe => $safe };
}

sub state_line {
    my $pw = slurp($pwfile);
    if (defined $pw) {
        chomp $pw;
        local $ENV{MYSQL_PWD} = $pw;
        # SHOW STATUS: answered by a member outside a Primary Component too (a SELECT is not).
        my $out = qx{timeout 3 mariadb --no-defaults --protocol=socket --socket=/run/mysqld/mysqld.sock -ugalera_monitor -N -B -e "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_cluster_status','wsrep_local_state_comment','wsrep_cluster_state_uuid','wsrep_last_committed','wsrep_ready')" 2>/dev/null};
        if ($? == 0 && $out =~ /wsrep_cluster_status/i) {
            my %v = map { my ($k, $x) = split /\t/, $_, 2; (uc($k) => $x // '') } split /\n/, $out;
            my $st   = $v{WSREP_CLUSTER_STATUS}      || 'unknown';
            my $loc  = $v{WSREP_LOCAL_STATE_COMMENT} || 'unknown';
            my $uuid = $v{WSREP_CLUSTER_STATE_UUID}  // '';
            my $seq  = $v{WSREP_LAST_COMMITTED}      // '-1';
            my $up   = ($st eq 'Primary' && $loc eq 'Synced' && ($v{WSREP_READY} // '') eq 'ON') ? 'up' : 'down';
            $loc =~ s/\s+/_/g;
            return sprintf("%s #status=%s state=%s uuid=%s seqno=%s fresh=%d\n",
                $up, $st, $loc, $uuid || '-', $seq, fresh(grastate()->{uuid}));
        }
    }
    my $g = grastate();
    return sprintf("down #status=none state=none uuid=%s seqno=%s safe=%s fresh=%d\n",
        $g->{uuid} // '-', $g->{seqno} // '-1', $g->{safe} // '0', fresh($g->{uuid}));
}

my $srv = IO::Socket::INET->new(LocalPort => $port, Listen => 16, ReuseAddr => 1, Proto => 'tcp')
    or die "agent: cannot listen on $port: $!\n";
while (1) {
    my $c = $srv->accept or next;
    eval {
        local $SIG{ALRM} = sub { die "timeout\n" };
        alarm 5;
        print $c state_line();
        alarm 0;
    };
    alarm 0;
    close $c;
}

#!/usr/bin/perl

# The layout the design fixes: the core in src/ knows no load balancer and
# no clock, and the files of the nginx glue call each other in no circle.

use strict;
use warnings;

use Test::More;

sub slurp {
    my ($path) = @_;
    open my $fh, '<', $path or die "$path: $!";
    local $/;
    my $text = <$fh>;
    # comments and strings say what they like
    $text =~ s{/\*.*?\*/}{ }gs;
    $text =~ s{"(?:\\.|[^"\\])*"}{""}g;
    return $text;
}

# the core

my @core = (glob('src/*.c'), glob('src/*.h'));
ok(@core > 10, 'the core is there');

for my $file (@core) {
    my $text = slurp($file);

    my ($header) = $text =~ /#\s*include\s*([<"](?:ngx_|lua|lauxlib)\S*)/;
    ok(!$header, "$file includes no nginx or Lua header")
        or diag($header);

    my ($call) =
        $text =~ /\b((?:time|gettimeofday|clock_gettime|ngx_\w+)\s*\()/;
    ok(!$call, "$file reads no clock and calls no nginx") or diag($call);
}

# the glue: which file calls a function another defines

my %defines;
my %text;

for my $file (glob('ngx_cluster_module/*.c')) {
    my ($name) = $file =~ m{/ngx_http_cluster_(\w+)\.c$};
    $text{$name} = slurp($file);

    for my $fn ($text{$name} =~ /^(ngx_http_cluster_\w+)\(/mg) {
        $defines{$fn} = $name;
    }
}

ok(keys %text >= 8, 'the glue is there');

my %calls;

for my $name (keys %text) {
    for my $fn (keys %defines) {
        next if $defines{$fn} eq $name;
        $calls{$name}{$defines{$fn}} = 1 if $text{$name} =~ /\b\Q$fn\E\b/;
    }
}

# a depth-first walk finds any circle

my @circles;
my %state;                      # 1: on the walk; 2: done

sub walk {
    my ($name, @path) = @_;

    $state{$name} = 1;

    for my $next (sort keys %{ $calls{$name} || {} }) {
        if (($state{$next} // 0) == 1) {
            push @circles, join(' -> ', @path, $name, $next);
        } elsif (!$state{$next}) {
            walk($next, @path, $name);
        }
    }

    $state{$name} = 2;
}

walk($_) for sort keys %text;

is_deeply(\@circles, [], 'no file of the glue calls another in a circle')
    or diag(join "\n", @circles);

ok($calls{module}{balancer} && $calls{status}{admin},
   'the walk sees the calls there are');

done_testing();

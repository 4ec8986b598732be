# Install rules for everything that is not a compiled target: example configuration, the
# systemd unit(s), the logrotate snippet and the Postfix examples. (Binaries are installed by
# policyd/ and policyctl/, man pages by the top-level CMakeLists.txt.)
#
# Configuration goes to /etc for any prefix (the top-level CMakeLists.txt defaults
# CMAKE_INSTALL_SYSCONFDIR to /etc): /etc/dane-policyd/ and /etc/logrotate.d/. Units go to
# PREFIX/lib/systemd/system (/usr/local/lib/systemd/system is also on systemd's search path);
# the Debian package sets DANE_SYSTEMD_UNITDIR=/lib/systemd/system. The units name the
# installed binary and config paths. `cmake --install build --strip` installs stripped binaries.

set(DANE_SYSTEMD_UNITDIR "${CMAKE_INSTALL_PREFIX}/lib/systemd/system"
    CACHE PATH "Where to install dane-policyd.service (and dane-policyd.socket)")
set(DANE_LOGROTATE_DIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/logrotate.d"
    CACHE PATH "Where to install the logrotate snippet")
set(dane_confdir "${CMAKE_INSTALL_FULL_SYSCONFDIR}/dane-policyd")

# The units (the .service, and a .socket when contrib/systemd/ has one): replace the Debian
# paths written in the sources by the configured ones.
file(GLOB dane_units CONFIGURE_DEPENDS
     ${PROJECT_SOURCE_DIR}/contrib/systemd/*.service ${PROJECT_SOURCE_DIR}/contrib/systemd/*.socket
     ${PROJECT_SOURCE_DIR}/contrib/systemd/*.timer)
foreach(unit_source ${dane_units})
  get_filename_component(unit_name ${unit_source} NAME)
  file(READ ${unit_source} dane_unit)
  string(REPLACE "/usr/sbin/dane-policyd" "${CMAKE_INSTALL_FULL_SBINDIR}/dane-policyd" dane_unit "${dane_unit}")
  string(REPLACE "/usr/bin/dane-policyctl" "${CMAKE_INSTALL_FULL_BINDIR}/dane-policyctl" dane_unit "${dane_unit}")
  string(REPLACE "/etc/dane-policyd/" "${dane_confdir}/" dane_unit "${dane_unit}")
  file(WRITE ${PROJECT_BINARY_DIR}/contrib/${unit_name} "${dane_unit}")
  install(FILES ${PROJECT_BINARY_DIR}/contrib/${unit_name} DESTINATION ${DANE_SYSTEMD_UNITDIR})
endforeach()

install(FILES contrib/logrotate/dane-policyd DESTINATION ${DANE_LOGROTATE_DIR})

# The example configuration: always as .example; as the real config file only when none exists
# (an upgrade never overwrites the operator's settings). The Debian package ships the same file
# as a conffile, so dpkg asks before replacing an edited one.
install(FILES contrib/dane-policyd.conf.example DESTINATION ${dane_confdir})
install(CODE "
  if(NOT EXISTS \"\$ENV{DESTDIR}${dane_confdir}/dane-policyd.conf\")
    file(INSTALL \"${PROJECT_SOURCE_DIR}/contrib/dane-policyd.conf.example\"
         DESTINATION \"${dane_confdir}\" RENAME dane-policyd.conf)
  endif()
")

install(FILES contrib/postfix/main.cf.example contrib/postfix/master.cf.example
        contrib/dane-policyd.conf.example
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
# Prometheus alert rules and a scrape configuration for --metrics (contrib/prometheus/).
install(FILES contrib/prometheus/dane-policyd.rules.yml contrib/prometheus/prometheus.yml.example
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples/prometheus)
